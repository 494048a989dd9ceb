import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BatchEntity, BatchTransitions, QueueModule } from '@app/core';
import { AuthModule } from '../auth/auth.module';
import { FilesModule } from '../files/files.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { BatchesController } from './batches.controller';
import { BatchRetryService } from './batch-retry.service';
import { BatchesService } from './batches.service';

@Module({
  imports: [
    TypeOrmModule.forFeature([BatchEntity]),
    QueueModule.forRoot('producer'),
    FilesModule,
    AuthModule,
    IdempotencyModule,
  ],
  controllers: [BatchesController],
  providers: [BatchesService, BatchRetryService, BatchTransitions],
})
export class BatchesModule {}
