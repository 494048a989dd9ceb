import { Module } from '@nestjs/common';
import { PreparedReadsModule, QueueModule, WebhookRepository, WorkspaceRepository } from '@app/core';
import { AdminKeyGuard } from '../admin/admin-key.guard';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

@Module({
  imports: [QueueModule.forRoot('producer'), PreparedReadsModule],
  controllers: [WebhooksController],
  providers: [WebhooksService, WebhookRepository, WorkspaceRepository, AdminKeyGuard],
})
export class WebhooksModule {}
