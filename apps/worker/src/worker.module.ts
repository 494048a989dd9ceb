import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { DatabaseModule, EnvironmentModule, LoggingModule, StorageModule } from '@app/core';
import { BatchRunnerModule } from './batch-runner/batch-runner.module';
import { configureProcessors } from './batch-runner/worker-options';
import { MaintenanceModule } from './maintenance/maintenance.module';
import { MonitoringModule } from './monitoring/monitoring.module';
import type { WorkerEnvironment } from './config/worker-environment';
import { UpstreamRoutes } from './upstream/upstream-routes';
import { WebhooksModule } from './webhooks/webhooks.module';

@Global()
@Module({})
export class WorkerModule {
  static register(env: WorkerEnvironment, routes: UpstreamRoutes, logger: Logger): DynamicModule {
    configureProcessors(env);
    return {
      module: WorkerModule,
      imports: [
        EnvironmentModule.forRoot(env),
        LoggingModule.forRoot(logger),
        DatabaseModule,
        StorageModule,
        MonitoringModule,
        BatchRunnerModule,
        WebhooksModule,
        MaintenanceModule,
      ],
      providers: [{ provide: UpstreamRoutes, useValue: routes }],
      exports: [UpstreamRoutes],
    };
  }
}
