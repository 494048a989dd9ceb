import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BatchEntity, BatchLineResultEntity, BatchTransitions, QueueModule } from '@app/core';
import { AuthModule } from '../auth/auth.module';
import { FilesModule } from '../files/files.module';
import { BatchResultsController } from './batch-results.controller';
import { BatchResultsService } from './batch-results.service';
import { BatchesController } from './batches.controller';
import { BatchesService } from './batches.service';

@Module({
  imports: [
    TypeOrmModule.forFeature([BatchEntity, BatchLineResultEntity]),
    QueueModule.forRoot('producer'),
    FilesModule,
    AuthModule,
  ],
  controllers: [BatchesController, BatchResultsController],
  providers: [BatchesService, BatchResultsService, BatchTransitions],
})
export class BatchesModule {}
