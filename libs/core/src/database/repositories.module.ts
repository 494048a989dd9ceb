import { Module } from '@nestjs/common';
import { BatchRepository } from '../batches/batch.repository';
import { BatchTransitions } from '../batches/batch-transitions';
import { ProviderBatchRepository } from '../batches/provider-batch.repository';
import { ResultJournalRepository } from '../batches/result-journal.repository';
import { FileRepository } from '../files/file.repository';
import { IdempotencyKeyRepository } from '../idempotency/idempotency-key.repository';
import { UploadRepository } from '../uploads/upload.repository';
import { UsageLedgerRepository } from '../usage/usage-ledger.repository';
import { WebhookRepository } from '../webhooks/webhook.repository';
import { WorkspaceRepository } from '../workspaces/workspace.repository';
import { PreparedReadsModule } from './reads/prepared-reads.module';

const REPOSITORIES = [
  BatchRepository,
  BatchTransitions,
  ProviderBatchRepository,
  ResultJournalRepository,
  FileRepository,
  UploadRepository,
  WorkspaceRepository,
  WebhookRepository,
  IdempotencyKeyRepository,
  UsageLedgerRepository,
];

/** The data access of every aggregate, one repository each, for both apps: the only module that reaches the tables. */
@Module({ imports: [PreparedReadsModule], providers: REPOSITORIES, exports: REPOSITORIES })
export class RepositoriesModule {}
