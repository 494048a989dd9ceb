import { Module } from '@nestjs/common';
import { QueueModule, RepositoriesModule } from '@app/core';
import { UpstreamClient } from '../upstream/upstream.client';
import { UpstreamLimiter } from '../upstream/upstream-limiter';
import { OutageGuard } from '../infrastructure/outage-guard';
import { MonitoringModule } from '../monitoring/monitoring.module';
import { BatchInputReader } from './batch-input-reader';
import { BatchLogContext } from './batch-log-context';
import { BudgetGate } from './budget-gate';
import { FinalizerLease } from './finalize/finalizer-lease';
import { ResultFileWriter } from './finalize/result-file-writer';
import { UsageLedgerWriter } from './finalize/usage-ledger-writer';
import { JournalStore } from './journal/journal-store';
import { BatchProcessor } from './batch.processor';
import { ChunkProcessor } from './chunk.processor';
import { AbandonShardStep } from './native/abandon-shard.step';
import { RunShardStep } from './native/run-shard.step';
import { ShardIngestion } from './native/shard-ingestion';
import { StageCustomIds } from './native/stage-custom-ids';
import { ShardProcessor } from './native/shard.processor';
import { ProviderBatchApis } from '../providers/provider-batch-apis';
import { RequestSlots } from './request-slots';
import { ExecuteChunkStep } from './steps/execute-chunk.step';
import { FinalizeBatchStep } from './steps/finalize-batch.step';
import { ValidateInputStep } from './steps/validate-input.step';
import { WorkerDrain } from './worker-drain';

@Module({
  imports: [QueueModule.forRoot('worker'), MonitoringModule, RepositoriesModule],
  providers: [
    BatchLogContext,
    BudgetGate,
    BatchProcessor,
    ChunkProcessor,
    ShardProcessor,
    RunShardStep,
    AbandonShardStep,
    ShardIngestion,
    StageCustomIds,
    ProviderBatchApis,
    ValidateInputStep,
    ExecuteChunkStep,
    FinalizeBatchStep,
    BatchInputReader,
    JournalStore,
    FinalizerLease,
    ResultFileWriter,
    UsageLedgerWriter,
    OutageGuard,
    RequestSlots,
    WorkerDrain,
    UpstreamClient,
    UpstreamLimiter,
  ],
  exports: [JournalStore, ProviderBatchApis, RepositoriesModule, QueueModule],
})
export class BatchRunnerModule {}
