import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Queue, Worker } from 'bullmq';
import { QUEUE_PREFIX, QueueName, workerConnection } from '@app/core';
import { WorkerEnvironment } from '../config/worker-environment';
import { BatchProcessor, type RunBatchJob } from './batch.processor';
import { ChunkProcessor } from './chunk.processor';

/** Batches whose validation or finalizing runs at once in one process (light work next to chunks). */
const BATCH_JOBS_PER_WORKER = 2;

/** The BullMQ workers of this process, built from the validated environment. */
@Injectable()
export class BatchWorkers implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(BatchWorkers.name);
  private workers: Worker[] = [];
  private chunkQueue!: Queue;
  private batchQueue!: Queue;

  constructor(
    private readonly env: WorkerEnvironment,
    private readonly batches: BatchProcessor,
    private readonly chunks: ChunkProcessor,
  ) {}

  onApplicationBootstrap(): void {
    const connection = workerConnection(this.env.REDIS_URL);
    const common = {
      connection,
      prefix: QUEUE_PREFIX,
      lockDuration: this.env.WORKER_LOCK_DURATION_MS,
      stalledInterval: Math.max(1000, Math.floor(this.env.WORKER_LOCK_DURATION_MS / 2)),
      maxStalledCount: 10,
    };
    this.chunkQueue = new Queue(QueueName.BatchChunks, { connection, prefix: QUEUE_PREFIX });
    this.batchQueue = new Queue(QueueName.Batches, { connection, prefix: QUEUE_PREFIX });
    const batchWorker = new Worker(
      QueueName.Batches,
      (job: RunBatchJob, token?: string) => this.batches.process(job, token as string, this.chunkQueue),
      { ...common, concurrency: BATCH_JOBS_PER_WORKER },
    );
    batchWorker.on('failed', (job, error) => {
      this.logger.warn(`Batch job ${job?.id} attempt ${job?.attemptsMade} failed: ${error.message}`);
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
        // The sweeper retries the batch later if this cannot reach the database now.
        this.batches.onFinalFailure(job as RunBatchJob, error).catch((failure: Error) =>
          this.logger.error(`Could not mark batch ${job.data.batchId} failed: ${failure.message}`),
        );
      }
    });
    const chunkWorker = new Worker(
      QueueName.BatchChunks,
      (job, token?: string) => this.chunks.process(job, token as string, this.batchQueue),
      { ...common, concurrency: this.env.WORKER_CHUNK_JOBS },
    );
    chunkWorker.on('failed', (job, error) =>
      this.logger.warn(`Chunk job ${job?.id} attempt ${job?.attemptsMade} failed: ${error.message}`),
    );
    this.workers = [batchWorker, chunkWorker];
    for (const worker of this.workers) {
      worker.on('error', (error) => this.logger.error(`Queue worker: ${error.message}`));
    }
    this.logger.log(
      `Working: ${this.env.WORKER_CHUNK_JOBS} chunk jobs, ${this.env.WORKER_CONCURRENCY} upstream requests in flight, upstream ${this.env.UPSTREAM_BASE_URL}`,
    );
  }

  /** Runs after WorkerDrain: chunks have stopped dispatching, so closing waits only for in-flight requests. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.close()));
    await this.chunkQueue?.close();
    await this.batchQueue?.close();
  }
}
