import { Injectable, Logger } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { InjectDataSource } from '@nestjs/typeorm';
import { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { enqueueBatch, type JobName, type JobOf, OPEN_STATUSES, QueueName, runBatchJobId } from '@app/core';
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
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectQueue(QueueName.Batches) private readonly queue: Queue<JobOf<JobName.RunBatch>>,
    private readonly env: WorkerEnvironment,
  ) {}

  async run(): Promise<void> {
    const rows: { id: string; workspace_id: string }[] = await this.dataSource.query(
      `SELECT id, workspace_id FROM batches
       WHERE status = ANY($1) AND created_at < clock_timestamp() - make_interval(secs => $2)`,
      [OPEN_STATUSES, this.env.BATCH_SWEEP_INTERVAL_MS / 1000],
    );
    for (const { id, workspace_id } of rows) {
      const fields = { batch_id: id, workspace_id };
      const job = await this.queue.getJob(runBatchJobId(id));
      if (!job) {
        await enqueueBatch(this.queue, { id, workspaceId: workspace_id });
        this.logger.warn(fields, `Batch ${id} was open without a job: enqueued again`);
      } else if (await job.isFailed()) {
        await job.retry('failed');
        this.logger.warn(fields, `Batch ${id} is open but its job had failed: retrying`);
      }
    }
  }
}
