import { Module } from '@nestjs/common';
import { BatchRunnerModule } from '../batch-runner/batch-runner.module';
import { Sweeper } from './sweeper';

@Module({ imports: [BatchRunnerModule], providers: [Sweeper] })
export class MaintenanceModule {}
