import { Module } from '@nestjs/common';
import { RepositoriesModule, MetricsModule, ReadinessModule } from '@app/core';
import { MonitoringServer } from './monitoring-server';
import { ProviderBatchesMetric } from './provider-batches.metric';
import { SweepMetrics } from './sweep-metrics';
import { WorkerMetrics } from './worker-metrics';

/** The worker's metrics (shared registry plus its own instruments) and the HTTP listener that serves them with its health. */
@Module({
  imports: [MetricsModule.forRoot('worker'), ReadinessModule.forRoot('worker'), RepositoriesModule],
  providers: [WorkerMetrics, MonitoringServer, ProviderBatchesMetric, SweepMetrics],
  exports: [WorkerMetrics, MonitoringServer, SweepMetrics],
})
export class MonitoringModule {}
