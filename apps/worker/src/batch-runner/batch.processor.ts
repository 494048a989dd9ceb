import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import { DelayedError, type Job, type JobsOptions, Queue, WaitingChildrenError } from 'bullmq';
import {
  BatchInputErrorCode,
  BATCH_JOB_OPTIONS,
  BatchTransitions,
  type ChunkRange,
  type JobOf,
  JobName,
  QueueName,
  runChunkJobId,
  runShardJobId,
} from '@app/core';
import { BatchLogContext, batchLogFields } from './batch-log-context';
import { FinalizerBusyError } from './finalize/finalizer-lease';
import { FinalizeBatchStep } from './steps/finalize-batch.step';
import { ValidateInputStep } from './steps/validate-input.step';

export type RunBatchJob = Job<JobOf<JobName.RunBatch> & { step?: 'plan' | 'finalize' }>;

/**
 * One batch, top to bottom: validate the input and fan its chunks out as child jobs, wait for
 * them (other workers may run them), then finalize. Each step picks up where a crash left off.
 * Worker options come from the environment (see worker-options.ts).
 */
@Processor(QueueName.Batches)
export class BatchProcessor extends WorkerHost {
  private readonly logger = new Logger(BatchProcessor.name);

  constructor(
    private readonly validateInput: ValidateInputStep,
    private readonly finalizeBatch: FinalizeBatchStep,
    private readonly transitions: BatchTransitions,
    private readonly logContext: BatchLogContext,
    @InjectQueue(QueueName.BatchChunks) private readonly chunkQueue: Queue,
    @InjectQueue(QueueName.ProviderBatches) private readonly shardQueue: Queue,
  ) {
    super();
  }

  process(job: RunBatchJob, token?: string): Promise<void> {
    return this.logContext.run(job, () => this.run(job, token));
  }

  private async run(job: RunBatchJob, token?: string): Promise<void> {
    const { batchId } = job.data;
    if (job.data.step !== 'finalize') {
      const work = await this.validateInput.run(batchId);
      await (work.native ? this.enqueueShards(job, work.ranges) : this.enqueueChunks(job, work.ranges));
      await job.updateData({ ...job.data, step: 'finalize' });
    }
    if (await job.moveToWaitingChildren(token as string)) {
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

  @OnWorkerEvent('failed')
  onFailed(job: RunBatchJob | undefined, error: Error): void {
    if (!job) {
      this.logger.warn(`A batch job failed: ${error.message}`);
      return;
    }
    const fields = batchLogFields(job);
    this.logger.warn(fields, `Batch job ${job.id} attempt ${job.attemptsMade} failed: ${error.message}`);
    if (job.attemptsMade >= (job.opts.attempts ?? 1)) {
      // The requeue-orphan-batches sweep retries the batch later if this cannot reach the database now.
      this.logContext
        .run(job, () => this.failForGood(job.data.batchId, error))
        .catch((failure: Error) =>
          this.logger.error(fields, `Could not mark batch ${job.data.batchId} failed: ${failure.message}`),
        );
    }
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    this.logger.error(`Batch queue worker: ${error.message}`);
  }

  /** After the last retry: the batch must not stay open forever. */
  private async failForGood(batchId: string, error: Error): Promise<void> {
    this.logger.error(`Batch ${batchId} failed for good: ${error.message}`, error.stack);
    const errors = [
      {
        code: BatchInputErrorCode.InternalError,
        message: 'The batch could not be processed.',
        param: null,
        line: null,
      },
    ];
    if (!(await this.transitions.move(batchId, 'failed', { errors }))) {
      await this.transitions.move(batchId, 'cancelled');
    }
  }

  /**
   * Chunk i of every batch is queued with priority i + 1, so the queue serves batches round-robin:
   * a small batch created behind a large one starts with the large one's next chunk, not its last.
   */
  private enqueueChunks(job: RunBatchJob, chunks: ChunkRange[]): Promise<void> {
    return this.enqueueChildren(job, this.chunkQueue, chunks, (chunk) => ({
      name: JobName.RunChunk,
      data: { batchId: job.data.batchId, workspaceId: job.data.workspaceId, chunk } satisfies JobOf<JobName.RunChunk>,
      opts: { jobId: runChunkJobId(job.data.batchId, chunk.index), priority: Math.min(chunk.index + 1, MAX_PRIORITY) },
    }));
  }

  /** One job per shard of a natively run batch, on the provider-batches queue. */
  private enqueueShards(job: RunBatchJob, shards: ChunkRange[]): Promise<void> {
    return this.enqueueChildren(job, this.shardQueue, shards, (shard) => ({
      name: JobName.RunShard,
      data: { batchId: job.data.batchId, workspaceId: job.data.workspaceId, shard } satisfies JobOf<JobName.RunShard>,
      opts: { jobId: runShardJobId(job.data.batchId, shard.index) },
    }));
  }

  private async enqueueChildren(
    job: RunBatchJob,
    queue: Queue,
    ranges: ChunkRange[],
    jobOf: (range: ChunkRange) => { name: string; data: object; opts: JobsOptions },
  ): Promise<void> {
    if (ranges.length === 0) {
      return;
    }
    const parent = { id: job.id as string, queue: job.queueQualifiedName };
    await queue.addBulk(
      ranges.map((range) => {
        const child = jobOf(range);
        // A child that fails for good must not block the batch: its lines are reported as not executed.
        return { ...child, opts: { ...BATCH_JOB_OPTIONS, ...child.opts, parent, ignoreDependencyOnFailure: true } };
      }),
    );
  }
}

/** BullMQ's largest priority. */
const MAX_PRIORITY = 2_097_152;
