import { Injectable, Logger } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { Queue } from 'bullmq';
import { BatchRepository, enqueueBatch, type JobName, type JobOf, QueueName, runBatchJobId } from '@app/core';
import { WorkerEnvironment } from '../../config/worker-environment';
import type { Sweep } from '../sweep';

/**
 * No batch stays open forever: an open batch whose job is gone (the api died between storing and enqueueing) is
 * enqueued again, and one whose job failed for good while the database was away is retried.
 */
@Injectable()
export class RequeueOrphanBatchesSweep implements Sweep {
  private readonly logger = new Logger(RequeueOrphanBatchesSweep.name);

  constructor(
    private readonly batches: BatchRepository,
    @InjectQueue(QueueName.Batches) private readonly queue: Queue<JobOf<JobName.RunBatch>>,
    private readonly env: WorkerEnvironment,
  ) {}

  async run(): Promise<void> {
    // Only batches older than a sweep interval: a younger one may be between its insert and its enqueue.
    for (const { id, workspaceId } of await this.batches.openCreatedBefore(this.env.BATCH_SWEEP_INTERVAL_MS / 1000)) {
      const fields = { batch_id: id, workspace_id: workspaceId };
      const job = await this.queue.getJob(runBatchJobId(id));
      if (!job) {
        await enqueueBatch(this.queue, { id, workspaceId });
        this.logger.warn(fields, `Batch ${id} was open without a job: enqueued again`);
      } else if (await job.isFailed()) {
        await job.retry('failed');
        this.logger.warn(fields, `Batch ${id} is open but its job had failed: retrying`);
      }
    }
  }
}
