import { Module } from '@nestjs/common';
import { RepositoriesModule, QueueModule } from '@app/core';
import { AuthModule } from '../auth/auth.module';
import { BudgetsModule } from '../budgets/budgets.module';
import { FilesModule } from '../files/files.module';
import { RateLimitModule } from '../rate-limit/rate-limit.module';
import { BatchAdmission } from './batch-admission.service';
import { BatchResultsController } from './batch-results.controller';
import { BatchResultsService } from './batch-results.service';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { BatchesController } from './batches.controller';
import { BatchRetryService } from './batch-retry.service';
import { BatchesService } from './batches.service';
import { BatchEstimateModule } from './estimate/batch-estimate.module';

@Module({
  imports: [
    QueueModule.forRoot('producer'),
    FilesModule,
    AuthModule,
    RateLimitModule,
    RepositoriesModule,
    BatchEstimateModule,
    BudgetsModule,
    IdempotencyModule,
  ],
  controllers: [BatchesController, BatchResultsController],
  providers: [BatchesService, BatchAdmission, BatchResultsService, BatchRetryService],
})
export class BatchesModule {}
