import { type DynamicModule, Module } from '@nestjs/common';
import { DatabaseModule, EnvironmentModule, StorageModule } from '@app/core';
import { AdminModule } from './admin/admin.module';
import { BatchesModule } from './batches/batches.module';
import type { ApiEnvironment } from './config/api-environment';
import { FilesModule } from './files/files.module';
import { HealthModule } from './health/health.module';
import { WebhooksModule } from './webhooks/webhooks.module';

@Module({})
export class AppModule {
  static register(env: ApiEnvironment): DynamicModule {
    return {
      module: AppModule,
      imports: [
        EnvironmentModule.forRoot(env),
        DatabaseModule,
        StorageModule,
        FilesModule,
        BatchesModule,
        AdminModule,
        WebhooksModule,
        HealthModule,
      ],
    };
  }
}
