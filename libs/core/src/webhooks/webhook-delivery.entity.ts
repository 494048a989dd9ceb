import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * One event on its way to one webhook: the outbox row. It is written in the transaction that ends the
 * batch and is the truth about delivery; the queue job (job id = this id) only carries it out.
 */
@Entity('webhook_deliveries')
@Index('webhook_deliveries_webhook_created_idx', ['webhookId', 'createdAt', 'id'])
export class WebhookDeliveryEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Index('webhook_deliveries_workspace_idx')
  @Column({ name: 'workspace_id', type: 'varchar', length: 40 })
  workspaceId!: string;

  @Column({ name: 'webhook_id', type: 'varchar', length: 40 })
  webhookId!: string;

  @Column({ name: 'event_id', type: 'varchar', length: 40 })
  eventId!: string;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  /** The HTTP status of the last answer; null when there was none (refused, timed out) or no attempt yet. */
  @Column({ name: 'last_status', type: 'integer', nullable: true })
  lastStatus!: number | null;

  /** Why the last attempt had no answer (a timeout, a refused connection). */
  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'last_attempt_at', type: 'timestamptz', nullable: true })
  lastAttemptAt!: Date | null;

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt!: Date | null;

  /** Set when the last allowed attempt failed: nothing retries it any more (a replay starts a new delivery). */
  @Column({ name: 'gave_up_at', type: 'timestamptz', nullable: true })
  gaveUpAt!: Date | null;
}
