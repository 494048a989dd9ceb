import { DataSource, type DataSourceOptions } from 'typeorm';
import { BatchLineResultEntity } from '../batches/batch-line-result.entity';
import { BatchEntity } from '../batches/batch.entity';
import { ProviderBatchEntity } from '../batches/provider-batch.entity';
import { UsageLedgerEntity } from '../usage/usage-ledger.entity';
import { FileEntity } from '../files/file.entity';
import { ApiKeyEntity } from '../workspaces/api-key.entity';
import { WorkspaceEntity } from '../workspaces/workspace.entity';
import { CreateSchema1763900000000 } from './migrations/1763900000000-CreateSchema';
import { ResultJournal1764000000000 } from './migrations/1764000000000-ResultJournal';
import { FilesExpiryIndex1764100000000 } from './migrations/1764100000000-FilesExpiryIndex';
import { Webhooks1764200000000 } from './migrations/1764200000000-Webhooks';
import { Uploads1764300000000 } from './migrations/1764300000000-Uploads';
import { UploadPartEntity } from '../uploads/upload-part.entity';
import { UploadEntity } from '../uploads/upload.entity';
import { TokenBudgets1764310000000 } from './migrations/1764310000000-TokenBudgets';
import { ResultSequence1764320000000 } from './migrations/1764320000000-ResultSequence';
import { IdempotencyKeys1764330000000 } from './migrations/1764330000000-IdempotencyKeys';
import { BatchRetryLinks1764340000000 } from './migrations/1764340000000-BatchRetryLinks';
import { UploadAssembly1764350000000 } from './migrations/1764350000000-UploadAssembly';
import { ProviderBatches1764400000000 } from './migrations/1764400000000-ProviderBatches';
import { JournalWithoutForeignKey1764500000000 } from './migrations/1764500000000-JournalWithoutForeignKey';
import { ProviderFilesOwed1764600000000 } from './migrations/1764600000000-ProviderFilesOwed';
import { ProviderQuotaWaits1764700000000 } from './migrations/1764700000000-ProviderQuotaWaits';
import { IdempotencyKeyEntity } from '../idempotency/idempotency-key.entity';
import { WebhookDeliveryEntity } from '../webhooks/webhook-delivery.entity';
import { WebhookEventEntity } from '../webhooks/webhook-event.entity';
import { WebhookEntity } from '../webhooks/webhook.entity';

/** Listed explicitly: bundlers and globs do not mix. */
export const ENTITIES = [
  WorkspaceEntity,
  ApiKeyEntity,
  FileEntity,
  BatchEntity,
  BatchLineResultEntity,
  UsageLedgerEntity,
  WebhookEntity,
  WebhookEventEntity,
  WebhookDeliveryEntity,
  UploadEntity,
  UploadPartEntity,
  IdempotencyKeyEntity,
  ProviderBatchEntity,
];
export const MIGRATIONS = [
  CreateSchema1763900000000,
  ResultJournal1764000000000,
  FilesExpiryIndex1764100000000,
  Webhooks1764200000000,
  Uploads1764300000000,
  TokenBudgets1764310000000,
  ResultSequence1764320000000,
  IdempotencyKeys1764330000000,
  BatchRetryLinks1764340000000,
  UploadAssembly1764350000000,
  ProviderBatches1764400000000,
  JournalWithoutForeignKey1764500000000,
  ProviderFilesOwed1764600000000,
  ProviderQuotaWaits1764700000000,
];

export function dataSourceOptions(databaseUrl: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url: databaseUrl,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    extra: { max: poolSize },
  };
}

/** Any constant: serialises migrations when several api replicas start at once. */
const MIGRATION_LOCK_KEY = 7_310_245_881;

/** Applies pending migrations under a Postgres advisory lock; returns the names applied. */
export async function runMigrations(databaseUrl: string): Promise<string[]> {
  const dataSource = new DataSource(dataSourceOptions(databaseUrl, 1));
  await dataSource.initialize();
  try {
    await dataSource.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await dataSource.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await dataSource.destroy();
  }
}
