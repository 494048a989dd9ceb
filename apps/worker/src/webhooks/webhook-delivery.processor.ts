import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import { type JobName, type JobOf, QueueName, WebhookRepository } from '@app/core';
import { WebhookSender } from './webhook-sender';

type DeliverWebhookJob = Job<JobOf<JobName.DeliverWebhook>>;

/** Raised for an attempt the receiver did not acknowledge: BullMQ retries the job after its backoff. */
class NotAcknowledgedError extends Error {}

/**
 * One attempt per run: send the event, record what came back on the delivery row, and fail the job
 * (so BullMQ retries it with the webhook backoff) unless the receiver answered 2xx. The row decides:
 * a delivery already delivered, given up or whose webhook was deleted sends nothing.
 * Worker options come from the environment (see worker-options.ts).
 */
@Processor(QueueName.WebhookDeliveries)
export class WebhookDeliveryProcessor extends WorkerHost {
  private readonly logger = new Logger(WebhookDeliveryProcessor.name);

  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly sender: WebhookSender,
  ) {
    super();
  }

  async process(job: DeliverWebhookJob): Promise<void> {
    const delivery = await this.webhooks.owedDelivery(job.data.deliveryId);
    if (!delivery) {
      return;
    }
    const outcome = await this.sender.send(delivery);
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    await this.webhooks.recordAttempt(delivery.id, outcome, !outcome.delivered && lastAttempt);
    if (!outcome.delivered) {
      const answer = outcome.status === null ? outcome.error : `status ${outcome.status}`;
      throw new NotAcknowledgedError(
        `Webhook ${delivery.webhookId} did not acknowledge ${delivery.type} ${delivery.eventId} (${answer})` +
          (lastAttempt ? ': giving up' : ''),
      );
    }
  }

  @OnWorkerEvent('failed')
  onFailed(job: DeliverWebhookJob | undefined, error: Error): void {
    this.logger.warn(`Webhook delivery ${job?.id} attempt ${job?.attemptsMade}: ${error.message}`);
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    this.logger.error(`Webhook queue worker: ${error.message}`);
  }
}
