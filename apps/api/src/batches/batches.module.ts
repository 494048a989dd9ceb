import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BatchEntity, BatchTransitions, QueueModule } from '@app/core';
import { AuthModule } from '../auth/auth.module';
import { BudgetsModule } from '../budgets/budgets.module';
import { PreparedReadsModule } from '../common/prepared-reads.module';
import { FilesModule } from '../files/files.module';
import { RateLimitModule } from '../rate-limit/rate-limit.module';
import { BatchesController } from './batches.controller';
import { BatchesService } from './batches.service';
import { BatchEstimateModule } from './estimate/batch-estimate.module';

@Module({
  imports: [
    TypeOrmModule.forFeature([BatchEntity]),
    QueueModule.forRoot('producer'),
    FilesModule,
    AuthModule,
    RateLimitModule,
    PreparedReadsModule,
    BatchEstimateModule,
    BudgetsModule,
  ],
  controllers: [BatchesController],
  providers: [BatchesService, BatchTransitions],
})
export class BatchesModule {}
