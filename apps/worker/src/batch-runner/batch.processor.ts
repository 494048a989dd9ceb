import { Injectable, Logger } from '@nestjs/common';
import { DelayedError, type Job, type Queue, WaitingChildrenError } from 'bullmq';
import {
  BATCH_JOB_OPTIONS,
  BatchTransitions,
  type ChunkRange,
  type JobOf,
  JobName,
  runChunkJobId,
} from '@app/core';
import { FinalizerBusyError } from './finalize/finalizer-lease';
import { FinalizeBatchStep } from './steps/finalize-batch.step';
import { ValidateInputStep } from './steps/validate-input.step';

export type RunBatchJob = Job<JobOf<JobName.RunBatch> & { step?: 'plan' | 'finalize' }>;

/**
 * One batch, top to bottom: validate the input and fan its chunks out as child jobs, wait for
 * them (other workers may run them), then finalize. Each step picks up where a crash left off.
 */
@Injectable()
export class BatchProcessor {
  private readonly logger = new Logger(BatchProcessor.name);

  constructor(
    private readonly validateInput: ValidateInputStep,
    private readonly finalizeBatch: FinalizeBatchStep,
    private readonly transitions: BatchTransitions,
  ) {}

  async process(job: RunBatchJob, token: string, chunkQueue: Queue): Promise<void> {
    const { batchId } = job.data;
    if (job.data.step !== 'finalize') {
      const chunks = await this.validateInput.run(batchId);
      await this.enqueueChunks(job, chunks, chunkQueue);
      await job.updateData({ ...job.data, step: 'finalize' });
    }
    if (await job.moveToWaitingChildren(token)) {
      throw new WaitingChildrenError();
    }
    try {
      await this.finalizeBatch.run(batchId);
    } catch (error) {
      if (!(error instanceof FinalizerBusyError)) {
        throw error;
      }
      // Another worker is finalizing: look again when its lease may have run out, without spending an attempt.
      await job.moveToDelayed(Date.now() + error.retryInMs, token);
      throw new DelayedError();
    }
  }

  /** After the last retry: the batch must not stay open forever. */
  async onFinalFailure(job: RunBatchJob, error: Error): Promise<void> {
    const { batchId } = job.data;
    this.logger.error(`Batch ${batchId} failed for good: ${error.message}`, error.stack);
    const errors = [{ code: 'internal_error', message: 'The batch could not be processed.', param: null, line: null }];
    if (!(await this.transitions.move(batchId, 'failed', { errors }))) {
      await this.transitions.move(batchId, 'cancelled');
    }
  }

  /**
   * Chunk i of every batch is queued with priority i + 1, so the queue serves batches round-robin:
   * a small batch created behind a large one starts with the large one's next chunk, not its last.
   */
  private async enqueueChunks(job: RunBatchJob, chunks: ChunkRange[], chunkQueue: Queue): Promise<void> {
    if (chunks.length === 0) {
      return;
    }
    const parent = { id: job.id as string, queue: job.queueQualifiedName };
    await chunkQueue.addBulk(
      chunks.map((chunk) => ({
        name: JobName.RunChunk,
        data: { batchId: job.data.batchId, chunk } satisfies JobOf<JobName.RunChunk>,
        opts: {
          ...BATCH_JOB_OPTIONS,
          jobId: runChunkJobId(job.data.batchId, chunk.index),
          priority: Math.min(chunk.index + 1, MAX_PRIORITY),
          parent,
          // A chunk that fails for good must not block the batch: its lines are reported as not executed.
          ignoreDependencyOnFailure: true,
        },
      })),
    );
  }
}

/** BullMQ's largest priority. */
const MAX_PRIORITY = 2_097_152;
