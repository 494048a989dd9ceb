import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BatchEntity, BatchTransitions, FileEntity } from '@app/core';
import { UpstreamClient } from '../upstream/upstream.client';
import { BatchWorkers } from './batch-workers';
import { BatchProcessor } from './batch.processor';
import { ChunkProcessor } from './chunk.processor';
import { RequestResults } from './request-results';
import { RequestSlots } from './request-slots';
import { ExecuteChunkStep } from './steps/execute-chunk.step';
import { FinalizeBatchStep } from './steps/finalize-batch.step';
import { ValidateInputStep } from './steps/validate-input.step';
import { WorkerDrain } from './worker-drain';

@Module({
  imports: [TypeOrmModule.forFeature([BatchEntity, FileEntity])],
  providers: [
    BatchWorkers,
    BatchProcessor,
    ChunkProcessor,
    ValidateInputStep,
    ExecuteChunkStep,
    FinalizeBatchStep,
    BatchTransitions,
    RequestResults,
    RequestSlots,
    WorkerDrain,
    UpstreamClient,
  ],
})
export class BatchRunnerModule {}
