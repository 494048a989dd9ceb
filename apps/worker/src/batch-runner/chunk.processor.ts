import { Injectable, Logger } from '@nestjs/common';
import { DelayedError, type Job, type Queue } from 'bullmq';
import { dropPendingChunks, type JobName, type JobOf } from '@app/core';
import { ExecuteChunkStep } from './steps/execute-chunk.step';

/**
 * One chunk of a batch. When the worker drains for shutdown the chunk goes back to the queue
 * unfinished; when the batch stopped running (cancel, expiry) its waiting chunks are dropped so
 * it can wind down at once.
 */
@Injectable()
export class ChunkProcessor {
  private readonly logger = new Logger(ChunkProcessor.name);

  constructor(private readonly executeChunk: ExecuteChunkStep) {}

  async process(job: Job<JobOf<JobName.RunChunk>>, token: string, batchQueue: Queue): Promise<void> {
    this.logger.log(`Chunk started: ${job.id}`);
    const outcome = await this.executeChunk.run(job.data.batchId, job.data.chunk);
    if (outcome === 'interrupted') {
      this.logger.log(`Chunk handed back: ${job.id}`);
      await job.moveToDelayed(Date.now() + 100, token);
      throw new DelayedError();
    }
    if (outcome === 'stopped') {
      await dropPendingChunks(batchQueue, job.data.batchId).catch((error: Error) =>
        this.logger.warn(`Could not drop the waiting chunks of batch ${job.data.batchId}: ${error.message}`),
      );
    }
    this.logger.log(`Chunk done: ${job.id}`);
  }
}
