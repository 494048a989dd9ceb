import { Module } from '@nestjs/common';
import { BatchRunnerModule } from '../batch-runner/batch-runner.module';
import { MonitoringModule } from '../monitoring/monitoring.module';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { MaintenanceProcessor } from './maintenance.processor';
import { SweepSchedules } from './sweep-schedules';
import { SWEEP_PROVIDERS, Sweeps } from './sweeps';

/** Housekeeping: one sweep per concern, each on its own job scheduler of the maintenance queue (worker-only). */
@Module({
  imports: [BatchRunnerModule, WebhooksModule, MonitoringModule],
  providers: [...SWEEP_PROVIDERS, Sweeps, MaintenanceProcessor, SweepSchedules],
})
export class MaintenanceModule {}
