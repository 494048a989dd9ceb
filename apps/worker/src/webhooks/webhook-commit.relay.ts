import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { enqueueWebhookDeliveries, type JobName, type JobOf, QueueName, WebhookRepository } from '@app/core';

/**
 * Enqueues the deliveries a transaction wrote (see recordWebhookEvent) once it has committed. If the process dies
 * in between, or Redis refuses, the requeue-owed-webhooks sweep finds the owed delivery without a job and enqueues it.
 */
@Injectable()
export class WebhookCommitRelay {
  private readonly logger = new Logger(WebhookCommitRelay.name);

  constructor(
    webhooks: WebhookRepository,
    @InjectQueue(QueueName.WebhookDeliveries) private readonly queue: Queue<JobOf<JobName.DeliverWebhook>>,
  ) {
    webhooks.onDeliveriesCommitted((ids) => this.enqueue(ids));
  }

  private enqueue(ids: string[]): void {
    // Not awaited: the commit has happened and must not wait on Redis (the requeue-owed-webhooks sweep covers a failure).
    enqueueWebhookDeliveries(this.queue, ids).catch((error: Error) =>
      this.logger.warn(
        `Could not enqueue webhook deliveries ${ids.join(', ')} (the requeue-owed-webhooks sweep will): ${error.message}`,
      ),
    );
  }
}
