import { Module } from '@nestjs/common';
import { PreparedReadsModule } from '../database/reads/prepared-reads.module';
import { BatchRepository } from './batch.repository';
import { BatchTransitions } from './batch-transitions';
import { ProviderBatchRepository } from './provider-batch.repository';
import { ResultJournalRepository } from './result-journal.repository';

const REPOSITORIES = [BatchRepository, BatchTransitions, ProviderBatchRepository, ResultJournalRepository];

/** The batch aggregate's data access, for both apps: the batches, their transitions, provider stages, journal. */
@Module({ imports: [PreparedReadsModule], providers: REPOSITORIES, exports: REPOSITORIES })
export class BatchRepositoriesModule {}
