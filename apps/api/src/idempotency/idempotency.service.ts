import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Repository } from 'typeorm';
import { AppError, ErrorCode, IdempotencyKeyEntity } from '@app/core';
import { ApiEnvironment } from '../config/api-environment';

/** How long a running request holds its key without extending it: a holder that died frees it after this. */
const LEASE_SECONDS = 10;
/** How often a running request extends its hold (well within the lease). */
export const LEASE_RENEW_MS = 3000;
/** How long a repeat waits for the first request to finish before it answers 409 idempotency_key_in_use. */
const REPEAT_WAIT_MS = 30_000;
const REPEAT_POLL_MS = 100;

/** The caller may execute the request: it holds the key until it completes or releases it. */
export interface IdempotencyClaim {
  kind: 'execute';
  workspaceId: string;
  key: string;
  token: string;
}

/** The key already answered this request: send that answer again. */
export interface IdempotencyReplay {
  kind: 'replay';
  status: number;
  body: unknown;
}

interface KeyRow {
  fingerprint: string;
  state: 'running' | 'completed';
  response_status: number | null;
  response_body: string | null;
}

/**
 * The `Idempotency-Key` protocol, after Stripe's: the first request with a key claims it and executes; a
 * repeat with the same request gets the recorded answer (waiting, bounded, while the first still runs); the
 * same key with another request is refused. Only successes are recorded: a request that fails (a 4xx found
 * before anything is created, or a 5xx) releases the key, so a retry executes again.
 */
@Injectable()
export class IdempotencyService {
  private readonly logger = new Logger(IdempotencyService.name);

  constructor(
    @InjectRepository(IdempotencyKeyEntity) private readonly keys: Repository<IdempotencyKeyEntity>,
    private readonly env: ApiEnvironment,
  ) {}

  async claim(workspaceId: string, key: string, fingerprint: string): Promise<IdempotencyClaim | IdempotencyReplay> {
    const deadline = Date.now() + REPEAT_WAIT_MS;
    for (;;) {
      const token = randomUUID();
      if (await this.tryClaim(workspaceId, key, fingerprint, token)) {
        return { kind: 'execute', workspaceId, key, token };
      }
      const [row]: KeyRow[] = await this.keys.query(
        `SELECT fingerprint, state, response_status, response_body FROM idempotency_keys
         WHERE workspace_id = $1 AND key = $2 AND expires_at > clock_timestamp()`,
        [workspaceId, key],
      );
      if (row && row.fingerprint !== fingerprint) {
        throw new AppError(
          ErrorCode.IdempotencyKeyReused,
          `Keys for idempotent requests can only be used with the same parameters they were first used with. ` +
            `Try using a key other than '${key}' if you meant to execute a different request.`,
          'Idempotency-Key',
        );
      }
      if (row?.state === 'completed' && row.response_status !== null && row.response_body !== null) {
        return { kind: 'replay', status: row.response_status, body: JSON.parse(row.response_body) as unknown };
      }
      // Still running (or released or expired in between: the next claim takes it).
      if (Date.now() >= deadline) {
        throw new AppError(
          ErrorCode.IdempotencyKeyInUse,
          `A request with the Idempotency-Key '${key}' is still being processed; retry shortly.`,
          'Idempotency-Key',
        );
      }
      await sleep(REPEAT_POLL_MS);
    }
  }

  /** Records the answer: from now on repeats get it. */
  async complete(claim: IdempotencyClaim, status: number, body: unknown): Promise<void> {
    await this.keys.query(
      `UPDATE idempotency_keys
       SET state = 'completed', response_status = $4, response_body = $5, lock_token = NULL, locked_until = NULL
       WHERE workspace_id = $1 AND key = $2 AND lock_token = $3`,
      [claim.workspaceId, claim.key, claim.token, status, JSON.stringify(body)],
    );
  }

  /** The request failed: the key is free again, for a retry to execute. */
  async release(claim: IdempotencyClaim): Promise<void> {
    await this.keys.query(
      `DELETE FROM idempotency_keys WHERE workspace_id = $1 AND key = $2 AND lock_token = $3 AND state = 'running'`,
      [claim.workspaceId, claim.key, claim.token],
    );
  }

  /** Extends the hold of a running request; a failure only shortens it (logged), it never fails the request. */
  async renew(claim: IdempotencyClaim): Promise<void> {
    await this.keys
      .query(
        `UPDATE idempotency_keys SET locked_until = clock_timestamp() + make_interval(secs => $4)
         WHERE workspace_id = $1 AND key = $2 AND lock_token = $3 AND state = 'running'`,
        [claim.workspaceId, claim.key, claim.token, LEASE_SECONDS],
      )
      .catch((error: Error) => this.logger.warn(`Could not extend Idempotency-Key hold: ${error.message}`));
  }

  /**
   * One statement: a new key is inserted; an expired one (whatever it held) is taken over, as the TTL says it
   * is forgotten; a running one whose holder stopped renewing (its process died) is taken over by the same request.
   */
  private async tryClaim(workspaceId: string, key: string, fingerprint: string, token: string): Promise<boolean> {
    const claimed: unknown[] = await this.keys.query(
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
      [workspaceId, key, fingerprint, token, LEASE_SECONDS, this.env.IDEMPOTENCY_TTL_SECONDS],
    );
    return claimed.length === 1;
  }
}
