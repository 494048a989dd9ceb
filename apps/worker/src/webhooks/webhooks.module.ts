import { Module } from '@nestjs/common';
import { QueueModule, RepositoriesModule } from '@app/core';
import { WebhookCommitRelay } from './webhook-commit.relay';
import { WebhookDeliveryProcessor } from './webhook-delivery.processor';
import { WebhookSender } from './webhook-sender';

/** Delivers batch events to workspaces' webhooks: from the outbox rows, through the webhook queue. */
@Module({
  imports: [QueueModule.forRoot('worker'), RepositoriesModule],
  providers: [WebhookDeliveryProcessor, WebhookSender, WebhookCommitRelay],
})
export class WebhooksModule {}
