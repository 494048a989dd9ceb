import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatchEntity,
  LocalDiskStorage,
  newBatchId,
  newWorkspaceId,
  ProviderBatchRepository,
  ResultJournalRepository,
} from '@app/core';
import type { BatchInputReader } from '../../apps/worker/src/batch-runner/batch-input-reader';
import { JournalStore } from '../../apps/worker/src/batch-runner/journal/journal-store';
import { ShardIngestion } from '../../apps/worker/src/batch-runner/native/shard-ingestion';
import { StageCustomIds } from '../../apps/worker/src/batch-runner/native/stage-custom-ids';
import type { WorkerEnvironment } from '../../apps/worker/src/config/worker-environment';
import { OutageGuard } from '../../apps/worker/src/infrastructure/outage-guard';
import { WorkerMetrics } from '../../apps/worker/src/monitoring/worker-metrics';
import type { ProviderBatchApi, ProviderBatchView } from '../../apps/worker/src/providers/provider-batch-api';
import { ProviderRefusedError } from '../../apps/worker/src/providers/provider-http';
import { defaultUpstream } from '../../apps/worker/src/upstream/upstream-routes';
import { insertRunningBatch, insertWorkspace, migratedDataSource } from '../support/database';

const env = {
  WORKER_OUTAGE_TOLERANCE_SECONDS: 60,
  JOURNAL_GROUP_MAX_LINES: 100,
  JOURNAL_GROUP_MAX_DELAY_MS: 5,
} as WorkerEnvironment;
const upstream = { ...defaultUpstream('http://127.0.0.1:9/v1'), name: 'provider', batch: 'native' as const };

/**
 * While a batch's shards run at the provider, `request_counts` mirror what the providers report. A shard whose
 * lines the provider never counted (refused, over budget) must not take its lines out of another shard's mirror.
 */
describe('Shard ingestion: the counts mirrored from the providers', () => {
  let dataSource: DataSource;
  let storageDir: string;
  let stages: ProviderBatchRepository;
  let customIds: StageCustomIds;
  let ingestion: ShardIngestion;
  let workspaceId: string;

  beforeAll(async () => {
    dataSource = await migratedDataSource(4);
    storageDir = mkdtempSync(join(tmpdir(), 'venna-ingestion-'));
    const storage = new LocalDiskStorage(storageDir);
    const records = new ResultJournalRepository(dataSource);
    const metrics = new WorkerMetrics(new Registry());
    stages = new ProviderBatchRepository(dataSource);
    customIds = new StageCustomIds(storage);
    // The custom_ids are noted as the stage's lines go out: the input is never read here.
    const input = {} as BatchInputReader;
    const journal = new JournalStore(records, storage, metrics);
    ingestion = new ShardIngestion(stages, input, customIds, journal, records, metrics, new OutageGuard(env), env);
    workspaceId = newWorkspaceId();
    await insertWorkspace(dataSource, workspaceId);
  });
  afterAll(async () => {
    await dataSource?.destroy();
    rmSync(storageDir, { recursive: true, force: true });
  });

  /** A batch of two 10-line shards: shard 0 running, its provider counting 3 completed and 2 failed; shard 1 sent. */
  async function twoShards() {
    const batchId = newBatchId();
    await insertRunningBatch(dataSource, batchId, workspaceId, 20);
    for (const index of [0, 1]) {
      const firstLine = 1 + 10 * index;
      const range = { index, firstLine, lastLine: firstLine + 9, lineCount: 10, startByte: 0, endByte: 1000 };
      await stages.begin(batchId, range, upstream.name);
    }
    await stages.submitted({ batchId, shard: 0, stage: 0 }, 'batch_provider_0');
    await stages.report({ batchId, shard: 0, stage: 0 }, { status: 'in_progress', completed: 3, failed: 2 }, false);
    const batch = await dataSource.getRepository(BatchEntity).findOneByOrFail({ id: batchId });
    const [second] = await stages.stages(batchId, 1);
    async function* sent() {
      for (let lineNumber = 11; lineNumber <= 20; lineNumber++) {
        yield { lineNumber, request: { customId: `request-${lineNumber}`, url: '/v1/chat/completions', body: {} } };
      }
    }
    // The stage's lines go out, their custom_ids noted.
    const sentLines: number[] = [];
    for await (const line of customIds.noting(batch, second, sent())) {
      sentLines.push(line.lineNumber);
    }
    expect(sentLines).toHaveLength(10);
    return { batch, second };
  }

  const countsOf = async (batchId: string) =>
    (
      await dataSource.query<Record<string, number>[]>(
        `SELECT request_completed, request_failed, provider_completed, provider_failed FROM batches WHERE id = $1`,
        [batchId],
      )
    )[0];
  const shard0Mirrored = { request_completed: 0, request_failed: 10, provider_completed: 3, provider_failed: 2 };

  it("keeps a running shard's mirrored counts when another shard is refused at submit", async () => {
    const { batch, second } = await twoShards();
    await ingestion.refuse(batch, upstream, second, new ProviderRefusedError(400, { error: { message: 'No.' } }));
    expect(await countsOf(batch.id)).toEqual(shard0Mirrored);
    expect((await stages.stages(batch.id, 1))[0].state).toBe('done');
  });

  it("keeps a running shard's mirrored counts when another shard's provider batch fails as a whole", async () => {
    const { batch } = await twoShards();
    await stages.submitted({ batchId: batch.id, shard: 1, stage: 0 }, 'batch_provider_1');
    const [running] = await stages.stages(batch.id, 1);
    const view: ProviderBatchView = {
      id: 'batch_provider_1',
      status: 'failed',
      ended: true,
      finishing: false,
      failed: { message: 'The input file is not valid.', quotaFull: false },
      completed: 0,
      failedLines: 0,
      results: {},
    };
    // A failed provider batch has no results to read: the protocol is never asked for them.
    await ingestion.copy(batch, [upstream], upstream, {} as ProviderBatchApi, running, view);
    expect(await countsOf(batch.id)).toEqual(shard0Mirrored);
  });

  it("takes only its own counts out of the mirror when a stage is sent back for the provider's quota", async () => {
    const { batch } = await twoShards();
    const key = { batchId: batch.id, shard: 1, stage: 0 };
    await stages.fileUploaded(key, 'file_provider_1');
    await stages.submitted(key, 'batch_provider_1');
    await stages.report(key, { status: 'in_progress', completed: 1, failed: 1 }, false);
    expect(await countsOf(batch.id)).toMatchObject({ provider_completed: 4, provider_failed: 3 });

    expect(await stages.sendBack(key, 'batch_provider_1')).toBe(1);
    expect(await countsOf(batch.id)).toMatchObject({ provider_completed: 3, provider_failed: 2 });
    expect((await stages.stages(batch.id, 1))[0]).toMatchObject({
      state: 'submitting',
      providerFileId: 'file_provider_1',
      providerBatchId: null,
      reportedCompleted: 0,
      reportedFailed: 0,
      quotaWaits: 1,
    });
    // A late repeat (another worker's turn) finds the stage no longer running that provider batch.
    expect(await stages.sendBack(key, 'batch_provider_1')).toBeNull();
    expect(await countsOf(batch.id)).toMatchObject({ provider_completed: 3, provider_failed: 2 });
  });

  it("records a stage's provider batch once: a repeat of the record holds, another turn's batch is refused", async () => {
    const { batch } = await twoShards();
    const key = { batchId: batch.id, shard: 1, stage: 0 };
    expect(await stages.submitted(key, 'batch_provider_1')).toBe(true);
    expect(await stages.submitted(key, 'batch_provider_1')).toBe(true);
    expect(await stages.submitted(key, 'batch_provider_other')).toBe(false);
    expect((await stages.stages(batch.id, 1))[0]).toMatchObject({
      state: 'running',
      providerBatchId: 'batch_provider_1',
    });
  });
});
