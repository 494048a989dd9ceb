import { type DynamicModule, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { DatabaseModule, EnvironmentModule, LoggingModule, StorageModule } from '@app/core';
import { AdminModule } from './admin/admin.module';
import { BatchesModule } from './batches/batches.module';
import type { ApiEnvironment } from './config/api-environment';
import { FilesModule } from './files/files.module';
import { HealthModule } from './health/health.module';
import { httpLogging } from './http-logging';
import { ApiMetricsModule } from './metrics/api-metrics.module';
import { QueueDashboardModule } from './queue-dashboard/queue-dashboard.module';
import { UploadsModule } from './uploads/uploads.module';
import { WebhooksModule } from './webhooks/webhooks.module';

@Module({})
export class AppModule {
  static register(env: ApiEnvironment, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        EnvironmentModule.forRoot(env),
        LoggingModule.forRoot(logger, httpLogging),
        DatabaseModule,
        StorageModule,
        FilesModule,
        UploadsModule,
        BatchesModule,
        AdminModule,
        WebhooksModule,
        HealthModule,
        ApiMetricsModule,
        QueueDashboardModule,
      ],
    };
  }
}
