import { Module } from '@nestjs/common';
import { MetricsModule } from '@app/core';
import { HttpMetrics } from './http-metrics';
import { MetricsController } from './metrics.controller';

/** GET /metrics and the api's own instruments, on the shared registry (process and queue metrics). */
@Module({
  imports: [MetricsModule.forRoot('producer')],
  controllers: [MetricsController],
  providers: [HttpMetrics],
  exports: [HttpMetrics],
})
export class ApiMetricsModule {}
