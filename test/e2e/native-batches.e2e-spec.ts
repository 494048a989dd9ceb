import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, newTenant, type Tenant } from '../support/clients';
import {
  allResults,
  batchLines,
  createBatch,
  numbered,
  type StubHandle,
  startStub,
  TERMINAL,
  waitForBatch,
} from '../support/batches';
import { HttpProxy } from '../support/http-proxy';
import { type AppProcess, startWorker } from '../support/processes';
import { type ProviderInstance, startProviderInstance, upstreamsFile } from '../support/provider-instance';
import { startStack, type Stack } from '../support/stack';
import { waitUntil } from '../support/poll';

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

/** The worker's health and metrics address, as it logs it at start-up. */
const workerUrl = (worker: AppProcess): string => /health and metrics on (http:\/\/\S+)/.exec(worker.output)![1];

async function ledgerOf(stack: Stack, workspaceId: string): Promise<LedgerRow[]> {
  const usage = await adminRequest<{ by_model: LedgerRow[] }>(
    stack.api.url,
    'GET',
    `/admin/workspaces/${workspaceId}/usage`,
  );
  return usage.by_model;
}

/**
 * The first `times` batches the provider creates from now on are shown failed for OpenAI's enqueued-token limit, when
 * polled and when listed (until `proxy.rewriteAnswers(null)`). Returns their ids as they come.
 */
function turnDownForQuota(proxy: HttpProxy, times: number): Set<string> {
  const turnedDown = new Set<string>();
  const asTurnedDown = (batch: { id: string }) =>
    turnedDown.has(batch.id)
      ? {
          ...batch,
          status: 'failed',
          errors: {
            object: 'list',
            data: [
              {
                code: 'token_limit_exceeded',
                message: 'Enqueued token limit reached for native-model. Limit: 90,000 enqueued tokens.',
                param: null,
                line: null,
              },
            ],
          },
          request_counts: { total: 0, completed: 0, failed: 0 },
          output_file_id: null,
          error_file_id: null,
        }
      : batch;
  proxy.rewriteAnswers((method, path, body) => {
    const answer = body as { id: string; object: string; data?: { id: string }[] };
    if (method === 'POST' && path === '/v1/batches' && turnedDown.size < times) {
      turnedDown.add(answer.id);
    }
    return answer.object === 'list' ? { ...answer, data: answer.data!.map(asTurnedDown) } : asTurnedDown(answer);
  });
  return turnedDown;
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
  let online: StubHandle;

  beforeAll(async () => {
    // One attempt per line at the provider: a line its upstream fails once ends failed there (a 500 in its error file).
    provider = await startProviderInstance({ worker: { UPSTREAM_MAX_ATTEMPTS: '1' } });
    proxy = await HttpProxy.start(provider.url);
    online = await startStub();
    routes = upstreamsFile([
      {
        match: 'native-*',
        name: 'provider',
        base_url: proxy.url,
        api_key_env: 'PROVIDER_KEY',
        batch: 'native',
        max_batch_requests: 1000,
        fallback: ['online'],
      },
      { match: 'online-only', name: 'online', base_url: online.url },
      {
        match: 'chained-*',
        name: 'provider-kept',
        base_url: proxy.url,
        api_key_env: 'PROVIDER_KEY',
        batch: 'native',
        keep_provider_files: true,
        fallback: ['provider-again'],
      },
      {
        match: 'provider-again-only',
        name: 'provider-again',
        base_url: provider.url,
        api_key_env: 'PROVIDER_KEY',
        batch: 'native',
      },
    ]);
    stack = await startStack({
      storage: true,
      worker: {
        UPSTREAMS_FILE: routes,
        PROVIDER_KEY: provider.tenant.key,
        NATIVE_BATCH_POLL_SECONDS: '1',
        BATCH_SWEEP_INTERVAL_MS: '1000',
      },
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
    await online?.close();
    await provider?.stop();
  });

  it('re-runs the lines the provider failed for a retriable reason on the fallback, and keeps its client errors', async () => {
    const tenant = await newTenant(stack.api.url);
    const requests = [
      ...numbered(100).map((r) => ({ ...r, customId: `ok-${r.customId}` })),
      ...numbered(500, (i) => `flaky ${i} [stub:flaky=1]`).map((r) => ({ ...r, customId: `flaky-${r.customId}` })),
      ...numbered(400, (i) => `bad ${i} [stub:fail=400]`).map((r) => ({ ...r, customId: `bad-${r.customId}` })),
    ];
    online.reset();
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', requests));
    const batch = await waitForBatch(tenant.client, created.id, undefined, 60_000);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 1000, completed: 600, failed: 400 });

    const { output, errors, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    expect(output.map((line) => line.custom_id.split('-')[0]).sort()).toEqual([
      ...Array<string>(500).fill('flaky'),
      ...Array<string>(100).fill('ok'),
    ]);
    expect(errors.every((line) => line.custom_id.startsWith('bad-') && line.response?.status_code === 400)).toBe(true);
    // The fallback got the 500 flaky lines (each answered 500 once, then 200) and nothing else.
    const stats = online.stats();
    expect(stats.requests).toBe(1000);
    expect(Object.values(stats.byBody).every((count) => count === 2)).toBe(true);
    const [shard] = await providerBatches(provider, created.id);
    expect([shard.request_completed, shard.request_failed]).toEqual([100, 900]);

    const ledger = await ledgerOf(stack, tenant.workspaceId);
    expect(ledger.map((row) => [row.pricing, row.requests])).toEqual([
      ['batch', 100],
      ['online', 500],
    ]);
    expect(ledger[0].input_tokens + ledger[1].input_tokens).toBe(batch.usage!.input_tokens);
    const metrics = await (await fetch(`${workerUrl(stack.worker)}/metrics`)).text();
    expect(metrics).toMatch(/venna_fallback_lines_total\{from="provider",to="online"\} 500\n/);
    expect(stack.worker.output).toMatch(/500 line\(s\) of batch \S+ that provider failed go to its fallback online/);
  });

  it('falls back from one native upstream to another, and keeps the provider files of the one told to', async () => {
    const tenant = await newTenant(stack.api.url);
    const requests = [
      ...numbered(50).map((r) => ({ ...r, customId: `ok-${r.customId}` })),
      ...numbered(30, (i) => `chained flaky ${i} [stub:flaky=1]`).map((r) => ({
        ...r,
        customId: `flaky-${r.customId}`,
      })),
    ];
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'chained-model', requests));
    const batch = await waitForBatch(tenant.client, created.id, undefined, 60_000);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 80, completed: 80, failed: 0 });
    const { output, errors, unique } = await allResults(tenant.client, batch);
    expect(errors).toEqual([]);
    expect(unique).toBe(true);
    expect(output).toHaveLength(80);

    // Stage 0 on provider-kept failed the flaky lines once (a 500 in its error file); stage 1, a provider batch
    // of its own on provider-again, ran just those.
    const stages = (await providerBatches(provider, created.id)).sort((a, b) =>
      a.metadata.venna_stage.localeCompare(b.metadata.venna_stage),
    );
    expect(stages.map((s) => [s.metadata.venna_stage, s.request_total, s.request_completed, s.request_failed])).toEqual(
      [
        ['0', 80, 50, 30],
        ['1', 30, 30, 0],
      ],
    );
    const filesLeft = async (stage: (typeof stages)[number]) => {
      const ids = [stage.input_file_id, stage.output_file_id, stage.error_file_id].filter(Boolean);
      return (await provider.db.query(`SELECT id FROM files WHERE id = ANY($1)`, [ids])).rowCount;
    };
    await expect.poll(() => filesLeft(stages[1]), { timeout: 10_000 }).toBe(0);
    expect(await filesLeft(stages[0])).toBe(3);

    expect((await ledgerOf(stack, tenant.workspaceId)).map((row) => [row.pricing, row.requests])).toEqual([
      ['batch', 80],
    ]);
    const metrics = await (await fetch(`${workerUrl(stack.worker)}/metrics`)).text();
    expect(metrics).toMatch(/venna_fallback_lines_total\{from="provider-kept",to="provider-again"\} 30\n/);
  });

  it('sends 2,500 lines as 3 shards, copies every line back once and bills the provider usage at the batch price', async () => {
    const { tenant } = stack;
    const requests = numbered(2500);
    const creates = proxy.count('POST', /^\/v1\/batches$/);
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
    expect(proxy.count('POST', /^\/v1\/batches$/) - creates).toBe(3);

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
    expect(fileIds).toHaveLength(6);
    const left = async () => (await provider.db.query(`SELECT id FROM files WHERE id = ANY($1)`, [fileIds])).rowCount;
    await expect.poll(left, { timeout: 10_000 }).toBe(0);
  });

  it("deletes the provider's files after the batch ends, and again at the next runs while the provider is away", async () => {
    const tenant = await newTenant(stack.api.url);
    const refusedDeletes = () =>
      proxy.seen.filter((r) => r.method === 'DELETE' && r.path.startsWith('/v1/files/') && r.status === 503).length;
    const owed = async () => {
      const metrics = await (await fetch(`${workerUrl(stack.worker)}/metrics`)).text();
      return Number(/venna_provider_batches\{upstream="provider",state="discard_owed"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    };
    const refusedBefore = refusedDeletes();
    proxy.refuseAnswers((method, path) => method === 'DELETE' && path.startsWith('/v1/files/'), 503, 1000);
    try {
      const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', numbered(30)));
      const batch = await waitForBatch(tenant.client, created.id, undefined, 30_000);
      // The batch ended without waiting on the provider's deletes.
      expect(batch.status).toBe('completed');
      const [stage] = await providerBatches(provider, created.id);
      const fileIds = [stage.input_file_id, stage.output_file_id];
      const left = async () => (await provider.db.query(`SELECT id FROM files WHERE id = ANY($1)`, [fileIds])).rowCount;

      // The provider away: each sweep run tries once more, and the debt shows in the gauge.
      await waitUntil(() => refusedDeletes() >= refusedBefore + 2, { what: 'two sweep runs refused by the provider' });
      expect(await left()).toBe(2);
      expect(await owed()).toBe(1);
      expect(stack.worker.output).toMatch(
        /Provider provider is away \(.*\): shard 0 stage 0 of batch \S+ is tried again/,
      );

      proxy.refuseAnswers(() => false, 0, 0);
      await expect.poll(left, { timeout: 20_000 }).toBe(0);
      expect(await owed()).toBe(0);
      expect(
        (await stack.db.query('SELECT discard_owed FROM provider_batches WHERE batch_id = $1', [created.id])).rows.map(
          (r) => r.discard_owed,
        ),
      ).toEqual([false]);
    } finally {
      proxy.refuseAnswers(() => false, 0, 0);
    }
  });

  it('writes a 12,000-line shard to the output file in input order, read back over several journal windows', async () => {
    const tenant = await newTenant(stack.api.url);
    const requests = numbered(12_000);
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'chained-order', requests));
    const batch = await waitForBatch(tenant.client, created.id, undefined, 90_000);
    expect(batch.request_counts).toEqual({ total: 12_000, completed: 12_000, failed: 0 });
    const output = (await (await tenant.client.files.content(batch.output_file_id!)).text()).trimEnd().split('\n');
    expect(output.map((line) => JSON.parse(line).custom_id)).toEqual(requests.map((r) => r.customId));
    const last = JSON.parse(output[11_999]);
    expect(last.response.body.choices[0].message.content).toContain('request number 11999');
  });

  it('deletes the input file of a stage that never becomes a provider batch: refused, or cancelled first', async () => {
    const tenant = await newTenant(stack.api.url);
    const providerFiles = async () =>
      Number(
        (await provider.db.query('SELECT count(*) FROM files WHERE workspace_id = $1', [provider.tenant.workspaceId]))
          .rows[0].count,
      );
    const createsAt = (status: number) =>
      proxy.seen.filter((r) => r.method === 'POST' && r.path === '/v1/batches' && r.status === status).length;
    const refusals = async () => {
      const metrics = await (await fetch(`${workerUrl(stack.worker)}/metrics`)).text();
      const counted = /venna_provider_batch_calls_total\{upstream="provider",outcome="refused"\} (\d+)/.exec(metrics);
      return Number(counted?.[1] ?? 0);
    };
    const before = await providerFiles();
    const refusedBefore = await refusals();

    // The provider took the file, then refused the batch: the stage's lines fail with its answer.
    proxy.refuseAnswers((method, path) => method === 'POST' && path === '/v1/batches', 400, 1);
    const refused = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', numbered(20)));
    const answered = await waitForBatch(tenant.client, refused.id, undefined, 30_000);
    expect(answered.request_counts).toEqual({ total: 20, completed: 0, failed: 20 });
    await expect.poll(providerFiles, { timeout: 10_000 }).toBe(before);
    expect(await refusals()).toBe(refusedBefore + 1);

    // The provider took the file, then was away (503) until the batch was cancelled.
    const away = createsAt(503);
    proxy.refuseAnswers((method, path) => method === 'POST' && path === '/v1/batches', 503, 1000);
    try {
      const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', numbered(20)));
      await waitUntil(() => createsAt(503) > away, { what: 'the provider away when the batch is created' });
      expect(await providerFiles()).toBe(before + 1);
      await tenant.client.batches.cancel(created.id);
      const cancelled = await waitForBatch(tenant.client, created.id, undefined, 30_000);
      expect(cancelled.status).toBe('cancelled');
      expect(cancelled.request_counts).toEqual({ total: 20, completed: 0, failed: 20 });
    } finally {
      proxy.refuseAnswers(() => false, 0, 0);
    }
    await expect.poll(providerFiles, { timeout: 10_000 }).toBe(before);
  });

  it('mirrors the provider counts while it runs, and a cancel reaches the provider batch, keeping finished lines', async () => {
    const tenant = await newTenant(stack.api.url);
    const requests = numbered(120, (i) => `slow ${i} [stub:delay=400]`);
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', requests));
    const running = await waitForBatch(
      tenant.client,
      created.id,
      (b) => b.request_counts!.completed > 0 || TERMINAL.includes(b.status),
      30_000,
    );
    expect(running.status).toBe('in_progress');
    expect(running.request_counts!.completed).toBeLessThan(120);
    const scraped = await (await fetch(`${workerUrl(stack.worker)}/metrics`)).text();
    expect(scraped).toMatch(/venna_provider_batches\{upstream="provider",state="running"\} 1\n/);
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
    // Two polls refused: the worker has met the outage twice and kept the batch running.
    await waitUntil(() => proxy.seen.slice(downSince).filter((r) => r.method === 'GET').length >= 2, {
      what: 'two polls of the provider while it is away',
    });
    proxy.up();
    expect((await tenant.client.batches.retrieve(created.id)).status).toBe('in_progress');
    const batch = await waitForBatch(tenant.client, created.id, undefined, 30_000);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 40, completed: 40, failed: 0 });
    expect(stack.worker.output).toMatch(/Provider provider is away \(The provider answered 503/);
    const refused = proxy.seen.filter((r) => r.status === 503).length;
    const metrics = await (await fetch(`${workerUrl(stack.worker)}/metrics`)).text();
    expect(metrics).toContain(`venna_provider_batch_calls_total{upstream="provider",outcome="error"} ${refused}\n`);
  });

  it('creates a stage again, its file reused, after the provider turns its batch down for quota (twice)', async () => {
    const tenant = await newTenant(stack.api.url);
    const turnedDown = turnDownForQuota(proxy, 2);
    try {
      const uploads = proxy.count('POST', /^\/v1\/files$/);
      const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', numbered(30)));
      const batch = await waitForBatch(tenant.client, created.id, undefined, 30_000);
      expect(batch.status).toBe('completed');
      expect(batch.request_counts).toEqual({ total: 30, completed: 30, failed: 0 });
      const { output, unique } = await allResults(tenant.client, batch);
      expect(unique).toBe(true);
      expect(output.every((line) => line.response?.status_code === 200)).toBe(true);

      const shards = await providerBatches(provider, created.id);
      expect(shards).toHaveLength(3);
      expect(new Set(shards.map((shard) => shard.input_file_id)).size).toBe(1);
      expect(proxy.count('POST', /^\/v1\/files$/) - uploads).toBe(1);
      const { rows } = await stack.db.query(
        `SELECT provider_batch_id, quota_waits FROM provider_batches WHERE batch_id = $1`,
        [created.id],
      );
      const [kept] = shards.filter((shard) => !turnedDown.has(shard.id));
      expect(rows).toEqual([{ provider_batch_id: kept.id, quota_waits: 2 }]);
      expect(stack.worker.output).toMatch(/for its quota \(Enqueued token limit reached[^)]*\): created again in 1 s/);
      expect(stack.worker.output).toMatch(/for its quota \(Enqueued token limit reached[^)]*\): created again in 2 s/);
    } finally {
      proxy.rewriteAnswers(null);
    }
  });

  it('ends the lines of a batch cancelled while the provider turns it down for quota as cancelled, none run', async () => {
    const tenant = await newTenant(stack.api.url);
    const turnedDown = turnDownForQuota(proxy, Infinity);
    try {
      const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', numbered(20)));
      await waitUntil(() => turnedDown.size >= 3, { what: 'three batches turned down for quota' });
      await tenant.client.batches.cancel(created.id);
      const batch = await waitForBatch(tenant.client, created.id, undefined, 30_000);
      expect(batch.status).toBe('cancelled');
      expect(batch.request_counts).toEqual({ total: 20, completed: 0, failed: 20 });
      const { errors } = await allResults(tenant.client, batch);
      expect(errors.map((line) => line.error?.code)).toEqual(Array(20).fill('batch_cancelled'));
      const { rows } = await stack.db.query(`SELECT state FROM provider_batches WHERE batch_id = $1`, [created.id]);
      expect(rows).toEqual([{ state: 'done' }]);
    } finally {
      proxy.rewriteAnswers(null);
    }
  });

  it('waits out a provider refusing its polls (401) more often than a job has attempts, and completes', async () => {
    const tenant = await newTenant(stack.api.url);
    const poll = (method: string, path: string) => method === 'GET' && /^\/v1\/batches\/batch_[^/?]+$/.test(path);
    const refusedBefore = proxy.seen.filter((r) => poll(r.method, r.path) && r.status === 401).length;
    // Seven refusals: more than the shard job's five attempts, so only waiting them out gets through.
    proxy.refuseAnswers(poll, 401, 7);
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', numbered(30)));
    const batch = await waitForBatch(tenant.client, created.id, undefined, 30_000);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 30, completed: 30, failed: 0 });
    expect(proxy.seen.filter((r) => poll(r.method, r.path) && r.status === 401).length - refusedBefore).toBe(7);
    expect(stack.worker.output).toMatch(/Provider provider refused a call \(The provider answered 401/);
  });

  it('copies the results back with the custom_ids noted as the lines went out, not from the input read again', async () => {
    const tenant = await newTenant(stack.api.url);
    const requests = numbered(40, (i) => `noted ${i} [stub:delay=150]`).map((r, i) => ({
      ...r,
      customId: `${r.customId} / ünïcode ${'x'.repeat(i)}`,
    }));
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', requests));
    await expect
      .poll(() => providerBatches(provider, created.id).then((rows) => rows.length), { timeout: 20_000 })
      .toBe(1);
    // The input's bytes are now empty: a copy that read them again would find no line to put an answer to.
    const { rows } = await stack.db.query<{ storage_key: string }>('SELECT storage_key FROM files WHERE id = $1', [
      created.input_file_id,
    ]);
    await stack.storage.leaveObject(rows[0].storage_key, Buffer.alloc(0));
    const batch = await waitForBatch(tenant.client, created.id, undefined, 30_000);
    expect(batch.request_counts).toEqual({ total: 40, completed: 40, failed: 0 });
    const { output, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    expect(new Set(output.map((line) => line.custom_id))).toEqual(new Set(requests.map((r) => r.customId)));
  });

  it('reads the results again while their download is cut short, more often than a job has attempts', async () => {
    const tenant = await newTenant(stack.api.url);
    const content = (path: string) => /^\/v1\/files\/[^/]+\/content$/.test(path);
    // Six cuts: more than the shard job's five attempts, so only treating them as the provider away gets through.
    proxy.cutAnswers((method, path) => method === 'GET' && content(path), 6);
    const downloads = proxy.seen.filter((r) => r.method === 'GET' && content(r.path)).length;
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', numbered(300)));
    const batch = await waitForBatch(tenant.client, created.id, undefined, 30_000);
    expect(batch.request_counts).toEqual({ total: 300, completed: 300, failed: 0 });
    const { output, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    expect(output).toHaveLength(300);
    expect(proxy.seen.filter((r) => r.method === 'GET' && content(r.path)).length - downloads).toBe(7);
    expect(stack.worker.output).toMatch(/Reading the provider's results stopped/);
  });

  /** A worker on the suite's routes, as the suite's own runs. */
  const nativeWorker = (extra: Record<string, string> = {}) =>
    startWorker(stack.stub.url, stack.api.storageDir, {
      ...stack.storage.env,
      UPSTREAMS_FILE: routes,
      PROVIDER_KEY: provider.tenant.key,
      NATIVE_BATCH_POLL_SECONDS: '1',
      ...extra,
    });

  /**
   * A 30-line batch whose worker is SIGKILLed once the provider has carried out its POST to `path` (the batch's create
   * by default), before the answer reached it (the suite's worker stopped meanwhile: the caller starts it again).
   */
  async function createdThenKilled(tenant: Tenant, path = '/v1/batches') {
    await stack.worker.stop();
    proxy.holdAnswers((method, held) => method === 'POST' && held === path);
    const worker = await nativeWorker();
    try {
      const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'native-model', numbered(30)));
      await proxy.nextHeld();
      return created;
    } finally {
      await worker.stop('SIGKILL');
      proxy.holdAnswers(() => false);
    }
  }

  it('never creates a second provider batch when the worker dies before it records the one it created', async () => {
    const tenant = await newTenant(stack.api.url);
    let worker: AppProcess | undefined;
    try {
      const created = await createdThenKilled(tenant);
      expect(await providerBatches(provider, created.id)).toHaveLength(1);
      const { rows } = await stack.db.query(
        `SELECT state, provider_file_id, provider_batch_id FROM provider_batches WHERE batch_id = $1`,
        [created.id],
      );
      expect(rows).toEqual([{ state: 'submitting', provider_file_id: expect.any(String), provider_batch_id: null }]);

      worker = await nativeWorker({ WORKER_LOCK_DURATION_MS: '2000' });
      const batch = await waitForBatch(tenant.client, created.id, undefined, 45_000);
      expect(batch.status).toBe('completed');
      expect(batch.request_counts).toEqual({ total: 30, completed: 30, failed: 0 });
      const shards = await providerBatches(provider, created.id);
      expect(shards).toHaveLength(1);
      expect(worker.output).toMatch(new RegExp(`found provider batch ${shards[0].id}`));
    } finally {
      await worker?.stop();
      stack.worker = await nativeWorker();
    }
  });

  it('reuses the input file an upload left at the provider when its answer was lost, uploading it once', async () => {
    const tenant = await newTenant(stack.api.url);
    const uploads = () => proxy.count('POST', /^\/v1\/files$/);
    let worker: AppProcess | undefined;
    try {
      const before = uploads();
      const created = await createdThenKilled(tenant, '/v1/files');
      const { rows } = await stack.db.query(`SELECT provider_file_id FROM provider_batches WHERE batch_id = $1`, [
        created.id,
      ]);
      expect(rows).toEqual([{ provider_file_id: null }]);

      worker = await nativeWorker({ WORKER_LOCK_DURATION_MS: '2000' });
      const batch = await waitForBatch(tenant.client, created.id, undefined, 45_000);
      expect(batch.request_counts).toEqual({ total: 30, completed: 30, failed: 0 });
      expect(uploads() - before).toBe(1);
      // One upload in all: the provider batch was made from the file the killed worker uploaded.
      expect(await providerBatches(provider, created.id)).toHaveLength(1);
      expect(worker.output).toMatch(/created provider batch/);
    } finally {
      await worker?.stop();
      stack.worker = await nativeWorker();
    }
  });

  it('finds the provider batch of a create whose answer was lost when the batch is cancelled meanwhile', async () => {
    const tenant = await newTenant(stack.api.url);
    let worker: AppProcess | undefined;
    try {
      const created = await createdThenKilled(tenant);
      expect(await tenant.client.batches.cancel(created.id)).toMatchObject({ status: 'cancelling' });

      worker = await nativeWorker({ WORKER_LOCK_DURATION_MS: '2000' });
      const batch = await waitForBatch(tenant.client, created.id, undefined, 45_000);
      expect(batch.status).toBe('cancelled');
      // The provider batch the lost answer named is ours again: cancelled there, or its finished lines kept here.
      const [shard, ...more] = await providerBatches(provider, created.id);
      expect(more).toEqual([]);
      const { rows } = await stack.db.query(`SELECT provider_batch_id FROM provider_batches WHERE batch_id = $1`, [
        created.id,
      ]);
      expect(rows).toEqual([{ provider_batch_id: shard.id }]);
      expect(['cancelling', 'cancelled', 'completed']).toContain(shard.status);
      expect(batch.request_counts!.completed).toBe(shard.request_completed);
    } finally {
      await worker?.stop();
      stack.worker = await nativeWorker();
    }
  });
});
