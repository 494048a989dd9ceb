import { Module } from '@nestjs/common';
import { BatchRunnerModule } from '../batch-runner/batch-runner.module';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { Sweeper } from './sweeper';

@Module({ imports: [BatchRunnerModule, WebhooksModule], providers: [Sweeper] })
export class MaintenanceModule {}
