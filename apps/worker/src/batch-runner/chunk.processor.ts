import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import { DelayedError, type Job, Queue } from 'bullmq';
import { dropPendingChunks, type JobName, type JobOf, ProviderBatchRepository, QueueName } from '@app/core';
import { BatchLogContext, batchLogFields } from './batch-log-context';
import { ExecuteChunkStep } from './steps/execute-chunk.step';

/**
 * One chunk of a batch. When the worker drains for shutdown the chunk goes back to the queue
 * unfinished; when the batch stopped running (cancel, expiry) its waiting chunks are dropped so
 * it can wind down at once. Worker options come from the environment (see worker-options.ts).
 */
@Processor(QueueName.BatchChunks)
export class ChunkProcessor extends WorkerHost {
  private readonly logger = new Logger(ChunkProcessor.name);

  constructor(
    private readonly executeChunk: ExecuteChunkStep,
    private readonly logContext: BatchLogContext,
    @InjectQueue(QueueName.Batches) private readonly batchQueue: Queue,
    private readonly providerBatches: ProviderBatchRepository,
  ) {
    super();
  }

  process(job: Job<JobOf<JobName.RunChunk>>, token?: string): Promise<void> {
    return this.logContext.run(job, () => this.run(job, token));
  }

  private async run(job: Job<JobOf<JobName.RunChunk>>, token?: string): Promise<void> {
    this.logger.log(`Chunk started: ${job.id}`);
    const outcome = await this.executeChunk.run(job.data.batchId, job.data.chunk);
    if (outcome === 'interrupted') {
      this.logger.log(`Chunk handed back: ${job.id}`);
      await job.moveToDelayed(Date.now() + 100, token);
      throw new DelayedError();
    }
    if (outcome === 'stopped') {
      await dropPendingChunks(this.batchQueue, job.data.batchId, this.providerBatches).catch((error: Error) =>
        this.logger.warn(`Could not drop the waiting chunks of batch ${job.data.batchId}: ${error.message}`),
      );
    }
    this.logger.log(`Chunk done: ${job.id}`);
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job<JobOf<JobName.RunChunk>> | undefined, error: Error): void {
    this.logger.warn(
      job ? batchLogFields(job) : {},
      `Chunk job ${job?.id} attempt ${job?.attemptsMade} failed: ${error.message}`,
    );
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    this.logger.error(`Chunk queue worker: ${error.message}`);
  }
}
