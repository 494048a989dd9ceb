import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTransientError } from '@app/core';
import { WorkerEnvironment } from '../config/worker-environment';

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
