import { Module } from '@nestjs/common';
import { QueueModule } from '@app/core';
import { WebhookCommitRelay } from './webhook-commit.relay';
import { WebhookDeliveries } from './webhook-deliveries';
import { WebhookDeliveryProcessor } from './webhook-delivery.processor';
import { WebhookSender } from './webhook-sender';

/** Delivers batch events to workspaces' webhooks: from the outbox rows, through the webhook queue. */
@Module({
  imports: [QueueModule.forRoot('worker')],
  providers: [WebhookDeliveryProcessor, WebhookDeliveries, WebhookSender, WebhookCommitRelay],
  exports: [WebhookDeliveries],
})
export class WebhooksModule {}
