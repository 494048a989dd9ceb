import { Injectable, Logger } from '@nestjs/common';
import { type BatchEntity, BatchRepository, BatchTransitions, isTerminal } from '@app/core';
import { OutageGuard } from '../../infrastructure/outage-guard';
import { FinalizerLease, type HeldLease } from '../finalize/finalizer-lease';
import { NO_RESULTS, ResultFileWriter, type WrittenResults } from '../finalize/result-file-writer';
import { UsageLedgerWriter } from '../finalize/usage-ledger-writer';
import { JournalStore } from '../journal/journal-store';
import type { FinalStatus } from '../result-lines';

/**
 * The end of a batch, once no chunk is left: under the batch's finalizer lease, write the output
 * and error files, then in one fenced transaction register them, move the batch to its final status
 * and bill the workspace; last, purge the journal. A crashed or fenced-out run leaves nothing that
 * counts, and the next run starts over with files of its own.
 */
@Injectable()
export class FinalizeBatchStep {
  private readonly logger = new Logger(FinalizeBatchStep.name);

  constructor(
    private readonly batches: BatchRepository,
    private readonly lease: FinalizerLease,
    private readonly resultFiles: ResultFileWriter,
    private readonly ledger: UsageLedgerWriter,
    private readonly journal: JournalStore,
    private readonly transitions: BatchTransitions,
    private readonly outages: OutageGuard,
  ) {}

  async run(batchId: string): Promise<void> {
    const batch = await this.outages.retry(`Loading batch ${batchId}`, () => this.load(batchId));
    if (!batch) {
      return;
    }
    if (!isTerminal(batch.status)) {
      const held = await this.outages.retry(`Taking the finalizer lease of batch ${batchId}`, () =>
        this.lease.acquire(batchId),
      );
      try {
        await this.finalize(batch, held);
      } catch (error) {
        this.logger.warn(
          `Finalizing batch ${batchId} stopped (${(error as Error).message}); this run's files are deleted`,
        );
        await this.lease.expire(batchId, held.token).catch(() => undefined);
        throw error;
      } finally {
        held.release();
      }
    }
    await this.outages.retry(`Purging the journal of batch ${batchId}`, () => this.journal.purgeFinished(batchId));
  }

  private async finalize(batch: BatchEntity, held: HeldLease): Promise<void> {
    const status = await this.outages.retry(`Settling the final status of batch ${batch.id}`, () =>
      this.finalStatusOf(batch),
    );
    const written = batch.inProgressAt
      ? await this.outages.retry(`Writing the result files of batch ${batch.id}`, () =>
          this.resultFiles.write(batch, status, held.token, held.lost),
        )
      : NO_RESULTS;
    const keys = [written.output?.key, written.error?.key].filter((key) => key !== undefined);
    try {
      await this.outages.retry(`Committing batch ${batch.id}`, () =>
        this.commit(batch.id, status, written, held.token),
      );
    } catch (error) {
      // A commit whose answer was lost may still have happened: then these files are the batch's and stay.
      if (keys.length > 0 && (await this.resultFiles.registered(keys).catch(() => true))) {
        return;
      }
      await this.resultFiles.deleteQuietly(keys);
      throw error;
    }
    this.logger.log(`Batch ${batch.id} ${status} (${written.notExecuted} request(s) not executed)`);
  }

  /** Registers the files, moves the batch (only while this run holds the lease) and bills it, all or nothing. */
  private async commit(batchId: string, status: FinalStatus, written: WrittenResults, token: string): Promise<void> {
    await this.batches.transaction(async (manager) => {
      const fresh = await this.batches.findById(batchId, manager);
      if (!fresh) {
        throw new Error(`Batch ${batchId} is gone: not committing`);
      }
      const files = await this.resultFiles.register(manager, fresh, written);
      const moved = await this.transitions.move(
        batchId,
        status,
        // Counts a provider reported but never handed over (a shard given up) are not the batch's.
        { ...files, requestFailed: fresh.requestFailed + written.notExecuted, providerCompleted: 0, providerFailed: 0 },
        { manager, finalizerToken: token },
      );
      if (!moved) {
        throw new Error(`Batch ${batchId} left ${fresh.status} or its finalizer lease was taken over: not committing`);
      }
      await this.ledger.bill(manager, fresh);
    });
  }

  /** in_progress moves to finalizing here (unless the window has passed), so a cancel cannot race the files. */
  private async finalStatusOf(batch: BatchEntity): Promise<FinalStatus> {
    const current = (await this.load(batch.id)) ?? batch;
    const expired = current.expiresAt.getTime() <= Date.now();
    switch (current.status) {
      case 'cancelling':
        return 'cancelled';
      case 'finalizing':
        return 'completed';
      case 'validating':
        if (expired) {
          return 'expired';
        }
        throw new Error(`Batch ${batch.id} is still validating`);
      case 'in_progress': {
        const unanswered = current.requestTotal - current.requestCompleted - current.requestFailed;
        if (expired && unanswered > 0) {
          return 'expired';
        }
        if (await this.transitions.move(batch.id, 'finalizing')) {
          return 'completed';
        }
        const reloaded = await this.load(batch.id);
        if (reloaded?.status !== 'cancelling') {
          throw new Error(`Batch ${batch.id} moved to ${reloaded?.status} while finalizing`);
        }
        return 'cancelled';
      }
      default:
        throw new Error(`Batch ${batch.id} cannot be finalized from ${current.status}`);
    }
  }

  private load(batchId: string): Promise<BatchEntity | null> {
    return this.batches.findById(batchId);
  }
}
