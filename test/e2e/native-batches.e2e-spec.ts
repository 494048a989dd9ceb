import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, newTenant } from '../support/clients';
import { allResults, batchLines, createBatch, numbered, waitForBatch } from '../support/batches';
import { HttpProxy } from '../support/http-proxy';
import { type AppProcess, startWorker } from '../support/processes';
import { type ProviderInstance, startProviderInstance, upstreamsFile } from '../support/provider-instance';
import { startStack, type Stack } from '../support/stack';

interface LedgerRow {
  model: string;
  pricing: 'online' | 'batch';
  requests: number;
  input_tokens: number;
  output_tokens: number;
}

const CHAT = '/v1/chat/completions';

/** What the provider (the second instance) holds of the batches our shards became. */
async function providerBatches(provider: ProviderInstance, batchId: string) {
  const { rows } = await provider.db.query<{
    id: string;
    status: string;
    metadata: Record<string, string>;
    request_total: number;
    request_completed: number;
    request_failed: number;
    input_tokens: string;
    output_tokens: string;
    input_file_id: string;
    output_file_id: string | null;
    error_file_id: string | null;
  }>(`SELECT * FROM batches WHERE metadata->>'venna_batch_id' = $1 ORDER BY (metadata->>'venna_shard')::int`, [
    batchId,
  ]);
  return rows;
}

async function ledgerOf(stack: Stack, workspaceId: string): Promise<LedgerRow[]> {
  const usage = await adminRequest<{ by_model: LedgerRow[] }>(
    stack.api.url,
    'GET',
    `/admin/workspaces/${workspaceId}/usage`,
  );
  return usage.by_model;
}

/**
 * Native provider batches, OpenAI protocol: the provider is a second instance of this project (its own api,
 * worker, stub, database and Redis db) behind a proxy that can make it go away or keep its answers.
 */
describe('Native provider batches (OpenAI protocol, another Venna as the provider)', () => {
  let provider: ProviderInstance;
  let proxy: HttpProxy;
  let stack: Stack;
  let routes: string;

  beforeAll(async () => {
    provider = await startProviderInstance();
    proxy = await HttpProxy.start(provider.url);
    routes = upstreamsFile([
      {
        match: 'native-*',
        name: 'provider',
        base_url: proxy.url,
        api_key_env: 'PROVIDER_KEY',
        batch: 'native',
        max_batch_requests: 1000,
      },
    ]);
    stack = await startStack({
      storage: true,
      worker: { UPSTREAMS_FILE: routes, PROVIDER_KEY: provider.tenant.key, NATIVE_BATCH_POLL_SECONDS: '1' },
      db: true,
    });
  }, 120_000);
  afterEach((context) => {
    if (context.task.result?.state === 'fail') {
      console.log('OUR WORKER', stack.worker.output.slice(-6000));
      console.log('PROVIDER WORKER', provider.worker.output.slice(-3000));
      console.log('PROVIDER API', provider.api.process.output.slice(-3000));
    }
  });
  afterAll(async () => {
    await stack?.stop();
    await proxy?.close();
    await provider?.stop();
  });

  it('sends 2,500 lines as 3 shards, copies every line back once and bills the provider usage at the batch price', async () => {
    const { tenant } = stack;
    const requests = numbered(2500);
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', requests));
    const batch = await waitForBatch(tenant.client, created.id, undefined, 90_000);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 2500, completed: 2500, failed: 0 });

    const shards = await providerBatches(provider, created.id);
    expect(shards.map((s) => [s.metadata.venna_shard, s.request_total, s.status])).toEqual([
      ['0', 1000, 'completed'],
      ['1', 1000, 'completed'],
      ['2', 500, 'completed'],
    ]);
    expect(proxy.count('POST', /^\/v1\/batches$/)).toBe(3);

    const { output, errors, ids, unique } = await allResults(tenant.client, batch);
    expect(errors).toEqual([]);
    expect(unique).toBe(true);
    expect(new Set(ids)).toEqual(new Set(requests.map((r) => r.customId)));
    const byId = new Map(output.map((line) => [line.custom_id, line]));
    expect(byId.get('req-7')?.response?.body.choices[0].message.content).toContain('request number 7');
    expect(output.every((line) => /^batch_req_/.test(line.id))).toBe(true);

    const providerUsage = shards.reduce(
      (sum, s) => ({ input: sum.input + Number(s.input_tokens), output: sum.output + Number(s.output_tokens) }),
      { input: 0, output: 0 },
    );
    expect(providerUsage.input).toBeGreaterThan(0);
    expect(batch.usage).toMatchObject({ input_tokens: providerUsage.input, output_tokens: providerUsage.output });
    expect(await ledgerOf(stack, tenant.workspaceId)).toEqual([
      expect.objectContaining({
        model: 'native-model',
        pricing: 'batch',
        requests: 2500,
        input_tokens: providerUsage.input,
        output_tokens: providerUsage.output,
      }),
    ]);

    // Copied, then deleted at the provider: its input, output and error files are gone.
    const fileIds = shards.flatMap((s) => [s.input_file_id, s.output_file_id, s.error_file_id]).filter(Boolean);
    const { rows } = await provider.db.query(`SELECT id FROM files WHERE id = ANY($1)`, [fileIds]);
    expect(rows).toEqual([]);
  });

  it('mirrors the provider counts while it runs, and a cancel reaches the provider batch, keeping finished lines', async () => {
    const tenant = await newTenant(stack.api.url);
    const requests = numbered(120, (i) => `slow ${i} [stub:delay=400]`);
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', requests));
    const running = await waitForBatch(
      tenant.client,
      created.id,
      (b) => b.request_counts!.completed > 0 || b.status !== 'in_progress',
      30_000,
    );
    expect(running.status).toBe('in_progress');
    expect(running.request_counts!.completed).toBeLessThan(120);
    await tenant.client.batches.cancel(created.id);
    const batch = await waitForBatch(tenant.client, created.id, undefined, 30_000);
    expect(batch.status).toBe('cancelled');

    const [shard] = await providerBatches(provider, created.id);
    expect(shard.status).toBe('cancelled');
    const { output, errors, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    expect(output.length).toBeGreaterThan(0);
    expect(output.length).toBe(shard.request_completed);
    expect(errors.length).toBe(120 - output.length);
    expect(errors.every((line) => line.error?.code === 'batch_cancelled')).toBe(true);
    expect(batch.request_counts).toEqual({ total: 120, completed: output.length, failed: errors.length });
  });

  it('waits while the provider is away mid-poll, and completes every line once it is back', async () => {
    const tenant = await newTenant(stack.api.url);
    const requests = numbered(40, (i) => `away ${i} [stub:delay=100]`);
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', requests));
    await waitForBatch(tenant.client, created.id, (b) => b.status === 'in_progress', 20_000);
    await expect
      .poll(() => providerBatches(provider, created.id).then((rows) => rows.length), { timeout: 20_000 })
      .toBe(1);
    proxy.goDown(503);
    const downSince = proxy.seen.length;
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const polledWhileDown = proxy.seen.slice(downSince).filter((r) => r.method === 'GET').length;
    proxy.up();
    expect(polledWhileDown).toBeGreaterThanOrEqual(2);
    expect((await tenant.client.batches.retrieve(created.id)).status).toBe('in_progress');
    const batch = await waitForBatch(tenant.client, created.id, undefined, 30_000);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 40, completed: 40, failed: 0 });
    expect(stack.worker.output).toMatch(/Provider provider is away \(The provider answered 503/);
  });

  it('never creates a second provider batch when the worker dies before it records the one it created', async () => {
    const tenant = await newTenant(stack.api.url);
    await stack.worker.stop();
    proxy.holdAnswers((method, path) => method === 'POST' && path === '/v1/batches');
    let worker: AppProcess | undefined = await startWorker(stack.stub.url, stack.api.storageDir, {
      ...stack.storage.env,
      UPSTREAMS_FILE: routes,
      PROVIDER_KEY: provider.tenant.key,
      NATIVE_BATCH_POLL_SECONDS: '1',
    });
    try {
      const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', numbered(30)));
      await proxy.nextHeld();
      await worker.stop('SIGKILL');
      proxy.holdAnswers(() => false);
      expect(await providerBatches(provider, created.id)).toHaveLength(1);
      const { rows } = await stack.db.query(
        `SELECT state, provider_file_id, provider_batch_id FROM provider_batches WHERE batch_id = $1`,
        [created.id],
      );
      expect(rows).toEqual([{ state: 'submitting', provider_file_id: expect.any(String), provider_batch_id: null }]);

      worker = await startWorker(stack.stub.url, stack.api.storageDir, {
        ...stack.storage.env,
        UPSTREAMS_FILE: routes,
        PROVIDER_KEY: provider.tenant.key,
        NATIVE_BATCH_POLL_SECONDS: '1',
        WORKER_LOCK_DURATION_MS: '2000',
      });
      const batch = await waitForBatch(tenant.client, created.id, undefined, 45_000);
      expect(batch.status).toBe('completed');
      expect(batch.request_counts).toEqual({ total: 30, completed: 30, failed: 0 });
      const shards = await providerBatches(provider, created.id);
      expect(shards).toHaveLength(1);
      expect(worker.output).toMatch(new RegExp(`found provider batch ${shards[0].id}`));
    } finally {
      await worker?.stop();
      stack.worker = await startWorker(stack.stub.url, stack.api.storageDir, {
        ...stack.storage.env,
        UPSTREAMS_FILE: routes,
        PROVIDER_KEY: provider.tenant.key,
        NATIVE_BATCH_POLL_SECONDS: '1',
      });
    }
  });
});
