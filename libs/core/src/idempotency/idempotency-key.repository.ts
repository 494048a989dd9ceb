import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/** Which request holds a key: its workspace, the key, and the token its holder drew. */
export interface KeyHold {
  workspaceId: string;
  key: string;
  token: string;
}

/** What a key records while it is not expired. */
export interface RecordedKey {
  fingerprint: string;
  state: 'running' | 'completed';
  responseStatus: number | null;
  responseBody: string | null;
}

/** Idempotency-Key records (table idempotency_keys): who holds a key, and the answer it recorded. */
@Injectable()
export class IdempotencyKeyRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * One statement: a new key is inserted; an expired one (whatever it held) is taken over, as the TTL says it is
   * forgotten; a running one whose holder stopped renewing (its process died) is taken over by the same request.
   */
  async claim(hold: KeyHold, fingerprint: string, leaseSeconds: number, ttlSeconds: number): Promise<boolean> {
    const claimed: unknown[] = await this.dataSource.query(
      `INSERT INTO idempotency_keys AS k
         (workspace_id, key, fingerprint, state, lock_token, locked_until, created_at, expires_at)
       VALUES ($1, $2, $3, 'running', $4, clock_timestamp() + make_interval(secs => $5), clock_timestamp(),
               clock_timestamp() + make_interval(secs => $6))
       ON CONFLICT (workspace_id, key) DO UPDATE
         SET fingerprint = EXCLUDED.fingerprint, state = 'running', lock_token = EXCLUDED.lock_token,
             locked_until = EXCLUDED.locked_until, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
             response_status = NULL, response_body = NULL
         WHERE k.expires_at <= clock_timestamp()
            OR (k.state = 'running' AND k.locked_until <= clock_timestamp() AND k.fingerprint = EXCLUDED.fingerprint)
       RETURNING 1`,
      [hold.workspaceId, hold.key, fingerprint, hold.token, leaseSeconds, ttlSeconds],
    );
    return claimed.length === 1;
  }

  /** The key's record, unless it has expired. */
  async find(workspaceId: string, key: string): Promise<RecordedKey | null> {
    const [row] = await this.dataSource.query<RecordedKey[]>(
      `SELECT fingerprint, state, response_status AS "responseStatus", response_body AS "responseBody"
         FROM idempotency_keys WHERE workspace_id = $1 AND key = $2 AND expires_at > clock_timestamp()`,
      [workspaceId, key],
    );
    return row ?? null;
  }

  /** Records the holder's answer and lets the key go: from now on repeats get it. */
  async complete(hold: KeyHold, status: number, body: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE idempotency_keys
       SET state = 'completed', response_status = $4, response_body = $5, lock_token = NULL, locked_until = NULL
       WHERE workspace_id = $1 AND key = $2 AND lock_token = $3`,
      [hold.workspaceId, hold.key, hold.token, status, body],
    );
  }

  /** Forgets a key its holder still runs: a retry executes again. */
  async release(hold: KeyHold): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE workspace_id = $1 AND key = $2 AND lock_token = $3 AND state = 'running'`,
      [hold.workspaceId, hold.key, hold.token],
    );
  }

  /** Extends the hold of a key its holder still runs. */
  async renew(hold: KeyHold, leaseSeconds: number): Promise<void> {
    await this.dataSource.query(
      `UPDATE idempotency_keys SET locked_until = clock_timestamp() + make_interval(secs => $4)
       WHERE workspace_id = $1 AND key = $2 AND lock_token = $3 AND state = 'running'`,
      [hold.workspaceId, hold.key, hold.token, leaseSeconds],
    );
  }

  /** Deletes up to `limit` expired keys (every read already ignores them). */
  async deleteExpired(limit: number): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE ctid IN (
         SELECT ctid FROM idempotency_keys WHERE expires_at < clock_timestamp() LIMIT $1)`,
      [limit],
    );
  }
}
