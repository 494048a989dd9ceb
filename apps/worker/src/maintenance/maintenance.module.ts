import { Module } from '@nestjs/common';
import { FileRepository, IdempotencyKeyRepository, PreparedReadsModule, UploadRepository } from '@app/core';
import { BatchRunnerModule } from '../batch-runner/batch-runner.module';
import { MonitoringModule } from '../monitoring/monitoring.module';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { MaintenanceProcessor } from './maintenance.processor';
import { SweepSchedules } from './sweep-schedules';
import { SWEEP_PROVIDERS, Sweeps } from './sweeps';

/** Housekeeping: one sweep per concern, each on its own job scheduler of the maintenance queue (worker-only). */
@Module({
  imports: [BatchRunnerModule, WebhooksModule, MonitoringModule, PreparedReadsModule],
  providers: [
    ...SWEEP_PROVIDERS,
    Sweeps,
    MaintenanceProcessor,
    SweepSchedules,
    FileRepository,
    UploadRepository,
    IdempotencyKeyRepository,
  ],
})
export class MaintenanceModule {}
