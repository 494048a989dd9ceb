import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  PreparedReadsModule,
  QueueModule,
  WebhookDeliveryEntity,
  WebhookEntity,
  WebhookEventEntity,
  WorkspaceEntity,
} from '@app/core';
import { AdminKeyGuard } from '../admin/admin-key.guard';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

@Module({
  imports: [
    TypeOrmModule.forFeature([WebhookEntity, WebhookEventEntity, WebhookDeliveryEntity, WorkspaceEntity]),
    QueueModule.forRoot('producer'),
    PreparedReadsModule,
  ],
  controllers: [WebhooksController],
  providers: [WebhooksService, AdminKeyGuard],
})
export class WebhooksModule {}
