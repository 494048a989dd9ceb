import { Module } from '@nestjs/common';
import { QueueModule } from '@app/core';
import { QueueDashboard } from './queue-dashboard';

@Module({ imports: [QueueModule.forRoot('producer')], providers: [QueueDashboard] })
export class QueueDashboardModule {}
