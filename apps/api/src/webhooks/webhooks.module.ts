import { Module } from '@nestjs/common';
import { QueueModule, RepositoriesModule } from '@app/core';
import { AdminKeyGuard } from '../admin/admin-key.guard';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

@Module({
  imports: [QueueModule.forRoot('producer'), RepositoriesModule],
  controllers: [WebhooksController],
  providers: [WebhooksService, AdminKeyGuard],
})
export class WebhooksModule {}
