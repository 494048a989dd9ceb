import { Injectable, Logger } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { Queue } from 'bullmq';
import {
  deliverWebhookJobId,
  enqueueWebhookDeliveries,
  type JobName,
  type JobOf,
  QueueName,
  WebhookRepository,
} from '@app/core';
import { WorkerEnvironment } from '../../config/worker-environment';
import type { Sweep } from '../sweep';

/** Owed webhook deliveries checked per run; successive runs continue where the last one stopped. */
const WEBHOOK_SWEEP_PAGE = 500;

/**
 * Every event is delivered at least once: a delivery still owed whose job is gone (a crash between the commit that
 * wrote it and its enqueue, or Redis losing its data) is enqueued again, and one whose job failed without giving up
 * (the database was away) is retried.
 */
@Injectable()
export class RequeueOwedWebhooksSweep implements Sweep {
  private readonly logger = new Logger(RequeueOwedWebhooksSweep.name);
  /**
   * The last owed delivery this process checked, so its next run goes on from there (null: from the start). Each
   * process keeps its own: the runs a process takes still walk every owed delivery in turn.
   */
  private cursor: string | null = null;

  constructor(
    @InjectQueue(QueueName.WebhookDeliveries) private readonly webhookQueue: Queue<JobOf<JobName.DeliverWebhook>>,
    private readonly webhooks: WebhookRepository,
    private readonly env: WorkerEnvironment,
  ) {}

  async run(): Promise<void> {
    const ids = await this.webhooks.owedDeliveryPage(
      this.cursor,
      this.env.BATCH_SWEEP_INTERVAL_MS / 1000,
      WEBHOOK_SWEEP_PAGE,
    );
    this.cursor = ids.length < WEBHOOK_SWEEP_PAGE ? null : (ids.at(-1) ?? null);
    const orphans: string[] = [];
    for (const id of ids) {
      const job = await this.webhookQueue.getJob(deliverWebhookJobId(id));
      if (!job) {
        orphans.push(id);
      } else if (await job.isFailed()) {
        await job.retry('failed');
        this.logger.warn(`Webhook delivery ${id} is owed but its job had failed: retrying`);
      }
    }
    if (orphans.length > 0) {
      await enqueueWebhookDeliveries(this.webhookQueue, orphans);
      this.logger.warn(`${orphans.length} webhook delivery(ies) were owed without a job: enqueued again`);
    }
  }
}
