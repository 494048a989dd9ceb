import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import { DelayedError, type Job } from 'bullmq';
import { type JobName, type JobOf, QueueName } from '@app/core';
import { BatchLogContext, batchLogFields } from '../batch-log-context';
import { AbandonShardStep } from './abandon-shard.step';
import { RunShardStep, type ShardTurn } from './run-shard.step';

/**
 * One shard of a batch on a provider's own Batch API. Between turns (polls, a provider away) the job
 * waits delayed, holding no worker slot; its state lives in provider_batches, so any worker takes the
 * next turn. Worker options come from the environment (see worker-options.ts).
 */
@Processor(QueueName.ProviderBatches)
export class ShardProcessor extends WorkerHost {
  private readonly logger = new Logger(ShardProcessor.name);

  constructor(
    private readonly runShard: RunShardStep,
    private readonly abandonShard: AbandonShardStep,
    private readonly logContext: BatchLogContext,
  ) {
    super();
  }

  process(job: Job<JobOf<JobName.RunShard>>, token?: string): Promise<void> {
    return this.logContext.run(job, () => this.run(job, token));
  }

  private async run(job: Job<JobOf<JobName.RunShard>>, token?: string): Promise<void> {
    const { batchId, shard } = job.data;
    let turn: ShardTurn;
    try {
      turn = await this.runShard.run(batchId, shard);
    } catch (error) {
      if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
        await this.abandonShard.run(batchId, shard.index, error as Error);
      }
      throw error;
    }
    if (!turn.done) {
      await job.moveToDelayed(Date.now() + turn.waitMs, token);
      throw new DelayedError();
    }
    this.logger.log(`Shard done: ${job.id}`);
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job<JobOf<JobName.RunShard>> | undefined, error: Error): void {
    this.logger.warn(
      job ? batchLogFields(job) : {},
      `Shard job ${job?.id} attempt ${job?.attemptsMade} failed: ${error.message}`,
    );
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    this.logger.error(`Shard queue worker: ${error.message}`);
  }
}
