import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** `running`: the first request holds the key (until `locked_until`); `completed`: its answer is recorded. */
export type IdempotencyKeyState = 'running' | 'completed';

/**
 * One `Idempotency-Key` a workspace sent on a create, with the request's fingerprint and, once the request
 * succeeded, its answer (replayed to repeats until `expires_at`). Owned by the api's IdempotencyService;
 * the worker's purge-expired-idempotency-keys sweep deletes expired rows.
 */
@Entity('idempotency_keys')
@Index('idempotency_keys_expires_idx', ['expiresAt'])
export class IdempotencyKeyEntity {
  @PrimaryColumn({ name: 'workspace_id', type: 'varchar', length: 40 })
  workspaceId!: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  key!: string;

  /** SHA-256 (hex) of the request: method, path and body, plus the uploaded bytes for multipart. */
  @Column({ type: 'char', length: 64 })
  fingerprint!: string;

  @Column({ type: 'varchar', length: 16 })
  state!: IdempotencyKeyState;

  @Column({ name: 'response_status', type: 'integer', nullable: true })
  responseStatus!: number | null;

  /** The answer as JSON text: text, not jsonb, so a replay has the same key order byte for byte. */
  @Column({ name: 'response_body', type: 'text', nullable: true })
  responseBody!: string | null;

  /** Which execution holds a running key: only it may complete, extend or release it. */
  @Column({ name: 'lock_token', type: 'varchar', length: 40, nullable: true })
  lockToken!: string | null;

  /** A running key whose holder stopped extending this (its process died) may be taken over by a repeat. */
  @Column({ name: 'locked_until', type: 'timestamptz', nullable: true })
  lockedUntil!: Date | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'clock_timestamp()' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;
}
