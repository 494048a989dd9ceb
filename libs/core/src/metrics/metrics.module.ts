import { type DynamicModule, Global, Module } from '@nestjs/common';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { QueueModule, type QueueRole } from '../queue/queue.module';
import { QueueJobsMetric } from './queue-jobs.metric';

/**
 * The process's Prometheus registry (inject `Registry`), with Node's process metrics and the batch
 * queues' job counts. Each app adds its own instruments to it and serves it on /metrics.
 */
@Global()
@Module({})
export class MetricsModule {
  static forRoot(role: QueueRole): DynamicModule {
    return {
      module: MetricsModule,
      imports: [QueueModule.forRoot(role)],
      providers: [
        {
          provide: Registry,
          useFactory: () => {
            const registry = new Registry();
            collectDefaultMetrics({ register: registry });
            return registry;
          },
        },
        QueueJobsMetric,
      ],
      exports: [Registry],
    };
  }
}
