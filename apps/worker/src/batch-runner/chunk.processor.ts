import { Injectable, Logger } from '@nestjs/common';
import { DelayedError, type Job } from 'bullmq';
import type { JobOf, JobName } from '@app/core';
import { ExecuteChunkStep } from './steps/execute-chunk.step';

/** One chunk of a batch. When the worker drains for shutdown, the chunk goes back to the queue unfinished. */
@Injectable()
export class ChunkProcessor {
  private readonly logger = new Logger(ChunkProcessor.name);

  constructor(private readonly executeChunk: ExecuteChunkStep) {}

  async process(job: Job<JobOf<JobName.RunChunk>>, token: string): Promise<void> {
    this.logger.log(`Chunk started: ${job.id}`);
    const outcome = await this.executeChunk.run(job.data.batchId, job.data.chunk);
    if (outcome === 'interrupted') {
      this.logger.log(`Chunk handed back: ${job.id}`);
      await job.moveToDelayed(Date.now() + 100, token);
      throw new DelayedError();
    }
    this.logger.log(`Chunk done: ${job.id}`);
  }
}
