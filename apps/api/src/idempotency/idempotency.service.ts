import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, ErrorCode, IdempotencyKeyRepository } from '@app/core';
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
    private readonly keys: IdempotencyKeyRepository,
    private readonly env: ApiEnvironment,
  ) {}

  async claim(workspaceId: string, key: string, fingerprint: string): Promise<IdempotencyClaim | IdempotencyReplay> {
    const deadline = Date.now() + REPEAT_WAIT_MS;
    for (;;) {
      const hold = { workspaceId, key, token: randomUUID() };
      if (await this.keys.claim(hold, fingerprint, LEASE_SECONDS, this.env.IDEMPOTENCY_TTL_SECONDS)) {
        return { kind: 'execute', ...hold };
      }
      const row = await this.keys.find(workspaceId, key);
      if (row && row.fingerprint !== fingerprint) {
        throw new AppError(
          ErrorCode.IdempotencyKeyReused,
          `Keys for idempotent requests can only be used with the same parameters they were first used with. ` +
            `Try using a key other than '${key}' if you meant to execute a different request.`,
          'Idempotency-Key',
        );
      }
      if (row?.state === 'completed' && row.responseStatus !== null && row.responseBody !== null) {
        return { kind: 'replay', status: row.responseStatus, body: JSON.parse(row.responseBody) as unknown };
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
    await this.keys.complete(claim, status, JSON.stringify(body));
  }

  /** The request failed: the key is free again, for a retry to execute. */
  async release(claim: IdempotencyClaim): Promise<void> {
    await this.keys.release(claim);
  }

  /** Extends the hold of a running request; a failure only shortens it (logged), it never fails the request. */
  async renew(claim: IdempotencyClaim): Promise<void> {
    await this.keys
      .renew(claim, LEASE_SECONDS)
      .catch((error: Error) => this.logger.warn(`Could not extend Idempotency-Key hold: ${error.message}`));
  }
}
