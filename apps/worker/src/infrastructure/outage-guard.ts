import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageUnavailableError } from '@app/core';
import { WorkerEnvironment } from '../config/worker-environment';

/** Node errno codes of a dependency that is away or full, not of a bug. */
const TRANSIENT_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EIO',
  'EMFILE',
  'ENFILE',
  'EAGAIN',
  'EBUSY',
  'EACCES',
  'EPERM',
]);

/** PostgreSQL SQLSTATE classes: connection exception, insufficient resources, operator intervention, system error, rollback. */
const TRANSIENT_SQLSTATE_CLASSES = new Set(['08', '53', '57', '58', '40']);

/** Driver messages that carry no code but mean the connection, not the statement, failed. */
const TRANSIENT_MESSAGE =
  /Connection terminated|connection (is )?closed|not queryable|timeout exceeded when trying to connect|Stream isn't writeable|Reached the max retries|Connection is closed/i;

/** Whether an error says "a dependency is unreachable or out of space" (wait and retry) rather than "this is wrong". */
export function isTransientError(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 4; depth++) {
    const candidate = current as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
    if (current instanceof StorageUnavailableError) {
      return true;
    }
    const code = typeof candidate.code === 'string' ? candidate.code : '';
    if (TRANSIENT_ERRNO.has(code) || (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_SQLSTATE_CLASSES.has(code.slice(0, 2)))) {
      return true;
    }
    if (typeof candidate.message === 'string' && TRANSIENT_MESSAGE.test(candidate.message)) {
      return true;
    }
    current = candidate.driverError ?? candidate.cause;
  }
  return false;
}

const FIRST_DELAY_MS = 200;
const MAX_DELAY_MS = 5000;

/**
 * Rides out dependency outages: an operation that fails because PostgreSQL, Redis or storage is
 * away is tried again with backoff for up to WORKER_OUTAGE_TOLERANCE_SECONDS. Other errors, and
 * outages that last longer, are thrown to the caller.
 */
@Injectable()
export class OutageGuard {
  private readonly logger = new Logger(OutageGuard.name);
  private readonly toleranceMs: number;

  constructor(env: WorkerEnvironment) {
    this.toleranceMs = env.WORKER_OUTAGE_TOLERANCE_SECONDS * 1000;
  }

  async retry<T>(what: string, operation: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await operation();
        if (attempt > 1) {
          this.logger.log(`${what}: dependency back after ${Math.round((Date.now() - started) / 1000)} s`);
        }
        return result;
      } catch (error) {
        const waited = Date.now() - started;
        if (!isTransientError(error) || waited >= this.toleranceMs) {
          throw error;
        }
        if (attempt === 1 || attempt % 10 === 0) {
          this.logger.warn(
            `${what}: ${(error as Error).message}; waiting for the dependency (${Math.round(waited / 1000)} s so far)`,
          );
        }
        await sleep(Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(attempt - 1, 10), this.toleranceMs - waited));
      }
    }
  }
}
