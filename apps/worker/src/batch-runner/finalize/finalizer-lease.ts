import { Injectable, Logger } from '@nestjs/common';
import { BatchRepository, randomBase62 } from '@app/core';
import { WorkerEnvironment } from '../../config/worker-environment';

/** Another finalizer holds the batch; try again once its lease may have run out. */
export class FinalizerBusyError extends Error {
  constructor(
    batchId: string,
    readonly retryInMs: number,
  ) {
    super(`Batch ${batchId} is being finalized by another worker`);
  }
}

/** A held lease: its token fences the final commit, and it is renewed while the files are written. */
export interface HeldLease {
  token: string;
  /** Fires when the lease is found taken over: the holder must stop and write nothing more. */
  lost: AbortSignal;
  release(): void;
}

/**
 * One finalizer per batch at a time. A finalizer takes a lease on the batch row (token and expiry),
 * renews it while it works and commits only while it still holds it. A crashed finalizer's lease
 * runs out after WORKER_LOCK_DURATION_MS and the next one takes over. Once taken, the token also
 * stops the journal from recording any late answers (see ResultJournalRepository.record).
 */
@Injectable()
export class FinalizerLease {
  private readonly logger = new Logger(FinalizerLease.name);
  private readonly durationMs: number;

  constructor(
    private readonly batches: BatchRepository,
    env: WorkerEnvironment,
  ) {
    this.durationMs = env.WORKER_LOCK_DURATION_MS;
  }

  async acquire(batchId: string): Promise<HeldLease> {
    const token = randomBase62(20);
    const taking = await this.batches.takeFinalizerLease(batchId, token, this.durationMs / 1000);
    if (!taking.taken) {
      throw new FinalizerBusyError(batchId, taking.remainingMs + 100);
    }
    return this.hold(batchId, token);
  }

  private hold(batchId: string, token: string): HeldLease {
    const lost = new AbortController();
    const renew = async () => {
      try {
        if (!(await this.batches.renewFinalizerLease(batchId, token, this.durationMs / 1000))) {
          lost.abort(new Error(`Batch ${batchId}: its finalizer lease was taken over`));
        }
      } catch (error) {
        // Unreachable database: keep working; the fenced commit decides whether this run still counts.
        this.logger.warn(`Could not renew the finalizer lease of batch ${batchId}: ${(error as Error).message}`);
      }
    };
    const timer = setInterval(() => void renew(), Math.max(200, Math.floor(this.durationMs / 3)));
    return {
      token,
      lost: lost.signal,
      release: () => clearInterval(timer),
    };
  }

  /** Lets the next finalizer start at once after this one failed (the token stays, so the journal stays closed). */
  async expire(batchId: string, token: string): Promise<void> {
    await this.batches.expireFinalizerLease(batchId, token);
  }
}
