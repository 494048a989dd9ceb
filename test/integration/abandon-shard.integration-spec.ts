import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newBatchId, newWorkspaceId, ProviderBatchRepository, type StageKey } from '@app/core';
import { AbandonShardStep } from '../../apps/worker/src/batch-runner/native/abandon-shard.step';
import { DiscardProviderFilesSweep } from '../../apps/worker/src/maintenance/sweeps/discard-provider-files.sweep';
import type { WorkerEnvironment } from '../../apps/worker/src/config/worker-environment';
import { WorkerMetrics } from '../../apps/worker/src/monitoring/worker-metrics';
import { ProviderBatchApis } from '../../apps/worker/src/providers/provider-batch-apis';
import { ProviderRefusedError } from '../../apps/worker/src/providers/provider-http';
import { defaultUpstream, UpstreamRoutes } from '../../apps/worker/src/upstream/upstream-routes';
import { type StubHandle, startStub } from '../support/batches';
import { insertRunningBatch, insertWorkspace, migratedDataSource } from '../support/database';

/**
 * A shard job that fails for good must not leave its provider batch running, untracked and billed: the stage ends
 * and the provider batch is cancelled. The provider is the stub's Message Batches, whose batches here run a minute.
 */
describe('Abandoning a shard whose job failed for good', () => {
  let stub: StubHandle;
  let apis: ProviderBatchApis;
  let dataSource: DataSource;
  let stages: ProviderBatchRepository;
  let abandon: AbandonShardStep;
  let sweep: DiscardProviderFilesSweep;
  let routes: UpstreamRoutes;
  let workspaceId: string;

  beforeAll(async () => {
    dataSource = await migratedDataSource(2);
    stages = new ProviderBatchRepository(dataSource);
    workspaceId = newWorkspaceId();
    await insertWorkspace(dataSource, workspaceId);
    stub = await startStub({ messageBatchMs: 60_000 });
    const env = { UPSTREAM_TIMEOUT_MS: 5_000, ANTHROPIC_DEFAULT_MAX_TOKENS: 256 } as WorkerEnvironment;
    apis = new ProviderBatchApis(env, new WorkerMetrics(new Registry()));
    const upstream = { ...defaultUpstream(stub.url), name: 'anthropic', batch: 'native' as const };
    routes = new UpstreamRoutes(defaultUpstream(stub.url), [
      { pattern: /^claude-.*$/, upstream: { ...upstream, protocol: 'anthropic' } },
    ]);
    abandon = new AbandonShardStep(stages, apis, routes);
    sweep = new DiscardProviderFilesSweep(stages, apis, routes);
  });
  afterAll(async () => {
    await apis?.onModuleDestroy();
    await stub?.close();
    await dataSource?.destroy();
  });

  /** A running batch of 3 lines whose shard 0 is written for `upstream`. */
  async function stageOn(upstream: string): Promise<StageKey> {
    const key = { batchId: newBatchId(), shard: 0, stage: 0 };
    await insertRunningBatch(dataSource, key.batchId, workspaceId, 3);
    await stages.begin(
      key.batchId,
      { index: 0, firstLine: 1, lastLine: 3, lineCount: 3, startByte: 0, endByte: 300 },
      upstream,
    );
    return key;
  }

  /** A Message Batch of 3 requests on the stub, running for a minute. */
  async function messageBatch(): Promise<string> {
    const created = await fetch(`${stub.url}/messages/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({
        requests: [1, 2, 3].map((n) => ({
          custom_id: `line-${n}`,
          params: { model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: `q ${n}` }] },
        })),
      }),
    });
    return ((await created.json()) as { id: string }).id;
  }

  const exists = (id: string) =>
    apis
      .for(routes.named('anthropic')!)
      .retrieve(id)
      .then(
        () => true,
        (error: unknown) => !(error instanceof ProviderRefusedError && error.statusCode === 404),
      );
  const owes = async (key: StageKey) => (await stages.stages(key.batchId, key.shard))[0].discardOwed;

  const stateOf = async (key: StageKey) => (await stages.stages(key.batchId, key.shard))[0].state;

  it('cancels the provider batch its open stage holds, and ends the stage', async () => {
    const key = await stageOn('anthropic');
    const id = await messageBatch();
    await stages.submitted(key, id);

    await abandon.run(key.batchId, key.shard, new Error('the job failed five times'));
    expect(stub.stats().messageBatches.cancelled).toBe(1);
    expect(await stateOf(key)).toBe('done');

    // Run again (a late repeat): nothing is open, nothing more is cancelled.
    await abandon.run(key.batchId, key.shard, new Error('again'));
    expect(stub.stats().messageBatches.cancelled).toBe(1);
  });

  it('ends a stage whose upstream left UPSTREAMS_FILE, and one not yet sent, without throwing', async () => {
    for (const upstream of ['gone', 'anthropic']) {
      const key = await stageOn(upstream);
      await expect(abandon.run(key.batchId, key.shard, new Error('failed'))).resolves.toBeUndefined();
      expect(await stateOf(key)).toBe('done');
    }
    expect(stub.stats().messageBatches.cancelled).toBe(1);
  });

  it('keeps what a stage given up left at the provider owed until its batch ends, for a day at most', async () => {
    const key = await stageOn('anthropic');
    const id = await messageBatch();
    await stages.submitted(key, id);
    // Given up while its Message Batch still runs (the cancel never reached it).
    const [stage] = await stages.stages(key.batchId, key.shard);
    await stages.finish(stage, { native: true, discardFiles: true }, null);

    await sweep.run();
    expect(await exists(id)).toBe(true);
    expect(await owes(key)).toBe(true);

    await apis.for(routes.named('anthropic')!).cancel(id);
    await expect.poll(async () => (await apis.for(routes.named('anthropic')!).retrieve(id)).ended).toBe(true);
    await sweep.run();
    expect(await exists(id)).toBe(false);
    expect(await owes(key)).toBe(false);

    // A day after its stage ended, one that still runs is given up too: the provider refuses the delete, and the
    // debt ends with a warning.
    const old = await stageOn('anthropic');
    const stillRunning = await messageBatch();
    await stages.submitted(old, stillRunning);
    await stages.finish((await stages.stages(old.batchId, old.shard))[0], { native: true, discardFiles: true }, null);
    await dataSource.query(`UPDATE provider_batches SET ended_at = now() - interval '25 hours' WHERE batch_id = $1`, [
      old.batchId,
    ]);
    await sweep.run();
    expect(await owes(old)).toBe(false);
    expect(await exists(stillRunning)).toBe(true);
  });
});
