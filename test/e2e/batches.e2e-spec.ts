import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminRequest,
  expectEnvelope,
  flushTestRedis,
  newTenant,
  postJson,
  raw,
  type Tenant,
} from '../support/clients';
import {
  allResults,
  batchLines,
  createBatch,
  type Endpoint,
  numbered,
  startStub,
  type StubHandle,
  uploadBatchInput,
  waitForBatch,
} from '../support/batches';
import { type ApiHandle, startApi, startWorker } from '../support/processes';
import { startTestStorage, type TestStorage } from '../support/storage';
import { startStack, type Stack } from '../support/stack';

const CHAT: Endpoint = '/v1/chat/completions';

/** Batches end to end: the api, the worker as its own process, the stub upstream over HTTP, the SDK as client. */
describe('Batches API and worker', () => {
  let stack: Stack;
  let stub: StubHandle;
  let api: ApiHandle;
  let tenant: Tenant;

  beforeAll(async () => {
    const routes = join(mkdtempSync(join(tmpdir(), 'routes-')), 'upstreams.yaml');
    // Models named offline-* go to a port nobody listens on: transport failures.
    writeFileSync(routes, 'upstreams:\n  - match: "offline-*"\n    base_url: http://127.0.0.1:9/v1\n');
    stack = await startStack({
      storage: true,
      stub: { apiKey: 'upstream-secret' },
      worker: {
        UPSTREAMS_FILE: routes,
        UPSTREAM_API_KEY: 'upstream-secret',
        UPSTREAM_TIMEOUT_MS: '1500',
        BATCH_CHUNK_SIZE: '7',
        WORKER_CONCURRENCY: '8',
      },
    });
    ({ stub, api, tenant } = stack);
  });
  afterAll(() => stack?.stop());

  it.each<[Endpoint, string]>([
    ['/v1/chat/completions', 'chat.completion'],
    ['/v1/completions', 'text_completion'],
    ['/v1/embeddings', 'list'],
    ['/v1/responses', 'response'],
    ['/v1/moderations', ''],
  ])('runs a %s batch to completed with one output line per request', async (endpoint, objectType) => {
    const created = await createBatch(tenant.client, endpoint, batchLines(endpoint, 'stub-model-1', numbered(10)), {
      metadata: { purpose: 'e2e' },
    });
    expect(created).toMatchObject({
      object: 'batch',
      status: 'validating',
      model: null,
      endpoint,
      completion_window: '24h',
    });
    expect(created.request_counts).toEqual({ total: 0, completed: 0, failed: 0 });
    expect(created.usage).toEqual({
      input_tokens: 0,
      output_tokens: 0,
      total_tokens: 0,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens_details: { reasoning_tokens: 0 },
    });
    expect(created.expires_at).toBe(created.created_at + 86400);

    const batch = await waitForBatch(tenant.client, created.id);
    expect(batch).toMatchObject({
      status: 'completed',
      model: 'stub-model-1',
      errors: null,
      error_file_id: null,
      metadata: { purpose: 'e2e' },
    });
    expect(batch.request_counts).toEqual({ total: 10, completed: 10, failed: 0 });
    const stamps = [batch.created_at, batch.in_progress_at, batch.finalizing_at, batch.completed_at];
    expect(stamps.every((t) => typeof t === 'number')).toBe(true);
    expect([...stamps].sort()).toEqual(stamps);
    expect([batch.failed_at, batch.expired_at, batch.cancelling_at, batch.cancelled_at]).toEqual([
      null,
      null,
      null,
      null,
    ]);

    const { output, errors, ids, unique } = await allResults(tenant.client, batch);
    expect(errors).toEqual([]);
    expect(unique).toBe(true);
    expect(ids.sort()).toEqual(
      numbered(10)
        .map((r) => r.customId)
        .sort(),
    );
    for (const line of output) {
      expect(line.id).toMatch(/^batch_req_/);
      expect(line.error).toBeNull();
      expect(line.response?.status_code).toBe(200);
      if (objectType) {
        expect(line.response?.body.object).toBe(objectType);
      }
    }
    const outputFile = await tenant.client.files.retrieve(batch.output_file_id as string);
    expect(outputFile.purpose).toBe('batch_output');
    if (endpoint !== '/v1/moderations') {
      expect(batch.usage?.input_tokens).toBeGreaterThan(0);
      expect(batch.usage?.total_tokens).toBe((batch.usage?.input_tokens ?? 0) + (batch.usage?.output_tokens ?? 0));
    }
  });

  it('retries 429, flaky 500s and timeouts to success, writes 4xx and transport failures to the error file, and still completes', async () => {
    const requests = [
      { customId: 'ok', text: 'plain' },
      { customId: 'bad-request', text: 'please [stub:fail=400]' },
      { customId: 'flaky', text: 'sometimes [stub:flaky=2]' },
      { customId: 'limited', text: 'busy [stub:ratelimit=1]' },
      { customId: 'stalled', text: 'first try hangs [stub:hang=1]' },
    ];
    stub.reset();
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-mixed', requests));
    const batch = await waitForBatch(tenant.client, created.id);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 5, completed: 4, failed: 1 });
    // ok and bad-request once; flaky 3 times; limited and stalled twice.
    expect(Object.values(stub.stats().byBody).sort()).toEqual([1, 1, 2, 2, 3]);
    const { output, errors } = await allResults(tenant.client, batch);
    expect(output.map((l) => l.custom_id).sort()).toEqual(['flaky', 'limited', 'ok', 'stalled']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ custom_id: 'bad-request', error: null, response: { status_code: 400 } });
    expect(errors[0].response?.body.error.code).toBe('stub_injected');

    const transport = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'offline-model', numbered(2)));
    const failedAll = await waitForBatch(tenant.client, transport.id);
    expect(failedAll).toMatchObject({
      status: 'completed',
      output_file_id: null,
      request_counts: { total: 2, completed: 0, failed: 2 },
    });
    const lines = (await allResults(tenant.client, failedAll)).errors;
    expect(lines.map((l) => [l.response, l.error?.code])).toEqual([
      [null, 'upstream_unreachable'],
      [null, 'upstream_unreachable'],
    ]);
    // Where the upstream lives is the operator's business, not the customer's.
    expect(lines[0].error?.message).toBe('The upstream could not be reached.');
  });

  it('never counts an answer that is not JSON as a success, and never echoes its text', async () => {
    stub.reset();
    const requests = [
      { customId: 'garbled-ok', text: 'html instead of json [stub:garbage=200]' },
      { customId: 'garbled-error', text: 'html error page [stub:garbage=404]' },
      { customId: 'fine', text: 'plain' },
    ];
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-garbage', requests));
    const batch = await waitForBatch(tenant.client, created.id);
    expect(batch.request_counts).toEqual({ total: 3, completed: 1, failed: 2 });
    const { output, errors } = await allResults(tenant.client, batch);
    expect(output.map((l) => l.custom_id)).toEqual(['fine']);
    const byId = Object.fromEntries(errors.map((line) => [line.custom_id, line]));
    expect(byId['garbled-ok']).toMatchObject({ response: null, error: { code: 'invalid_upstream_response' } });
    expect(byId['garbled-error'].response?.status_code).toBe(404);
    expect(JSON.stringify(errors)).not.toContain('<html>');
  });

  it('fails validation with every problem listed by line and code', async () => {
    const line = (customId: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        custom_id: customId,
        method: 'POST',
        url: CHAT,
        body: { model: 'm-a', messages: [] },
        ...extra,
      });
    const content = [
      line('one'),
      line('one'),
      line('two', { url: '/v1/embeddings' }),
      line('three', { body: { model: 'm-b' } }),
      JSON.stringify({ custom_id: 'four', url: CHAT, body: { model: 'm-a' } }),
      line('five', { body: { messages: [] } }),
    ].join('\n');
    const created = await createBatch(tenant.client, CHAT, content);
    const batch = await waitForBatch(tenant.client, created.id);
    expect(batch.status).toBe('failed');
    expect(typeof batch.failed_at).toBe('number');
    expect(batch.in_progress_at).toBeNull();
    expect(batch.errors?.object).toBe('list');
    expect(batch.errors?.data?.map((e) => [e.code, e.line, e.param])).toEqual([
      ['duplicate_custom_id', 2, 'custom_id'],
      ['url_mismatch', 3, 'url'],
      ['model_mismatch', 4, 'body.model'],
      ['missing_required_parameter', 5, 'method'],
      ['missing_required_parameter', 6, 'body.model'],
    ]);
    expect(batch.output_file_id).toBeNull();
  });

  it('cancels a running batch: in-flight requests finish, the rest are reported, counts match the files', async () => {
    const own = await newTenant(api.url);
    const created = await createBatch(
      own.client,
      CHAT,
      batchLines(
        CHAT,
        'stub-slow',
        numbered(80, (i) => `slow ${i} [stub:delay=200]`),
      ),
    );
    await waitForBatch(own.client, created.id, (b) => (b.request_counts?.completed ?? 0) >= 8);
    const cancelling = await own.client.batches.cancel(created.id);
    expect(cancelling.status).toBe('cancelling');
    expect(typeof cancelling.cancelling_at).toBe('number');
    const noticedBy = Date.now();

    const batch = await waitForBatch(own.client, created.id);
    expect(batch.status).toBe('cancelled');
    expect(Date.now() - noticedBy).toBeLessThan(5000);
    const { output, errors, ids, unique } = await allResults(own.client, batch);
    expect(unique).toBe(true);
    expect(ids).toHaveLength(80);
    expect(output.length).toBeGreaterThan(0);
    expect(output.length).toBeLessThan(80);
    expect(errors.every((l) => l.error?.code === 'batch_cancelled' && l.response === null)).toBe(true);
    expect(batch.request_counts).toEqual({ total: 80, completed: output.length, failed: errors.length });
    // What did run is billed, once.
    const usage = await adminRequest<any>(api.url, 'GET', `/admin/workspaces/${own.workspaceId}/usage`);
    expect(usage.totals).toMatchObject({
      requests: output.length,
      input_tokens: batch.usage?.input_tokens,
      output_tokens: batch.usage?.output_tokens,
    });
    expect(batch.usage?.input_tokens).toBeGreaterThan(0);
  });

  it('answers 409 when cancelling a finished batch, and accepts every empty-body form of cancel', async () => {
    const done = await waitForBatch(
      tenant.client,
      (await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-m', numbered(1)))).id,
    );
    const conflict = await raw(api.url, `/v1/batches/${done.id}/cancel`, { method: 'POST', key: tenant.key });
    expectEnvelope(conflict, 409, {
      param: null,
      code: null,
      message: /^Cannot cancel a batch with status 'completed'\.$/,
    });
    expect(conflict.headers.get('x-should-retry')).toBe('false');

    const forms: RequestInit[] = [
      {},
      { headers: { 'content-type': 'application/json' } },
      { headers: { 'content-length': '0' }, body: '' },
    ];
    for (const init of forms) {
      const running = await createBatch(
        tenant.client,
        CHAT,
        batchLines(
          CHAT,
          'stub-slow',
          numbered(30, (i) => `c ${i} [stub:delay=200]`),
        ),
      );
      const answer = await raw(api.url, `/v1/batches/${running.id}/cancel`, {
        method: 'POST',
        key: tenant.key,
        ...init,
      });
      expect(answer.status).toBe(200);
      expect(answer.body.status).toBe('cancelling');
      // Cancelling again is harmless while cancelling (200 with the batch as it now is, which may have just
      // become cancelled); once cancelled (terminal) it is a 409.
      const again = await raw(api.url, `/v1/batches/${running.id}/cancel`, { method: 'POST', key: tenant.key });
      const outcome = again.status === 200 ? again.body.status : again.body.error.message;
      expect(['cancelling', 'cancelled', "Cannot cancel a batch with status 'cancelled'."]).toContain(outcome);
      await waitForBatch(tenant.client, running.id);
    }
  });

  it('rejects bad create requests with the parameter named', async () => {
    const input = await uploadBatchInput(tenant.client, batchLines(CHAT, 'm', numbered(1)));
    const other = await tenant.client.files.create({ file: new File(['x'], 'x.txt'), purpose: 'user_data' });
    const create = (body: Record<string, unknown>) => postJson(api.url, '/v1/batches', tenant.key, body);
    const valid = { input_file_id: input.id, endpoint: CHAT, completion_window: '24h' };
    expectEnvelope(await create({ ...valid, input_file_id: other.id }), 400, {
      param: 'input_file_id',
      message: /purpose 'batch'/,
    });
    expectEnvelope(await create({ ...valid, input_file_id: 'file-missing' }), 400, {
      param: 'input_file_id',
      message: /Cannot find file/,
    });
    expectEnvelope(await create({ ...valid, endpoint: '/v1/images' }), 400, { param: 'endpoint' });
    expectEnvelope(await create({ ...valid, completion_window: '48h' }), 400, { param: 'completion_window' });
    expectEnvelope(await create({ endpoint: CHAT, completion_window: '24h' }), 400, { param: 'input_file_id' });
    const seventeen = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    expectEnvelope(await create({ ...valid, metadata: seventeen }), 400, { param: 'metadata', message: /at most 16/ });
    expectEnvelope(await create({ ...valid, metadata: { k: 'v'.repeat(513) } }), 400, { param: 'metadata' });
    expectEnvelope(await create({ ...valid, metadata: { ['k'.repeat(65)]: 'v' } }), 400, { param: 'metadata' });
    expectEnvelope(await create({ ...valid, output_expires_after: { anchor: 'created_at', seconds: 10 } }), 400, {
      param: 'output_expires_after.seconds',
    });
    const malformed = await postJson(api.url, '/v1/batches', tenant.key, '{"input_file_id":');
    expectEnvelope(malformed, 400, { message: /could not parse the JSON body/ });
    expectEnvelope(await raw(api.url, '/v1/batches/batch_nope', { key: tenant.key }), 404, {
      param: 'id',
      message: /No such Batch object/,
    });
    expectEnvelope(await raw(api.url, '/v1/batches?limit=101', { key: tenant.key }), 400, { param: 'limit' });
  });

  it('sets output files to expire as output_expires_after asks', async () => {
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-m', numbered(2)), {
      output_expires_after: { anchor: 'created_at', seconds: 7200 },
    });
    const batch = await waitForBatch(tenant.client, created.id);
    const output = await tenant.client.files.retrieve(batch.output_file_id as string);
    expect(output.expires_at).toBe(output.created_at + 7200);
  });

  it('lists batches newest first across pages', async () => {
    const own = await newTenant(api.url);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await createBatch(own.client, CHAT, batchLines(CHAT, 'stub-m', numbered(1)))).id);
    }
    const seen: string[] = [];
    for await (const batch of own.client.batches.list({ limit: 2 })) {
      seen.push(batch.id);
    }
    expect(seen).toEqual([...ids].reverse());
    const first = await raw(api.url, '/v1/batches?limit=2', { key: own.key });
    expect(Object.keys(first.body)).toEqual(['object', 'data', 'first_id', 'last_id', 'has_more']);
    expect(first.body).toMatchObject({ first_id: ids[4], last_id: ids[3], has_more: true });
    const defaults = await raw(api.url, '/v1/batches', { key: own.key });
    expect(defaults.body.data).toHaveLength(5);
    expect(defaults.body.has_more).toBe(false);
  });

  it('records each finished batch once in the usage ledger of its workspace', async () => {
    const own = await newTenant(api.url);
    const batches = [];
    for (let i = 0; i < 2; i++) {
      const created = await createBatch(own.client, CHAT, batchLines(CHAT, 'stub-billing', numbered(3 + i)));
      batches.push(await waitForBatch(own.client, created.id));
    }
    const usage = await adminRequest<any>(api.url, 'GET', `/admin/workspaces/${own.workspaceId}/usage`);
    const input = batches.reduce((sum, b) => sum + (b.usage?.input_tokens ?? 0), 0);
    const outputTokens = batches.reduce((sum, b) => sum + (b.usage?.output_tokens ?? 0), 0);
    expect(usage.batches).toBe(2);
    expect(usage.totals).toMatchObject({
      requests: 7,
      input_tokens: input,
      output_tokens: outputTokens,
      total_tokens: input + outputTokens,
    });
    expect(usage.totals.cached_tokens).toBe(
      batches.reduce((sum, b) => sum + (b.usage?.input_tokens_details.cached_tokens ?? 0), 0),
    );
    expect(usage.by_model).toEqual([expect.objectContaining({ model: 'stub-billing', batches: 2, requests: 7 })]);
    const future = Math.floor(Date.now() / 1000) + 3600;
    const none = await adminRequest<any>(
      api.url,
      'GET',
      `/admin/workspaces/${own.workspaceId}/usage?start_time=${future}`,
    );
    expect(none.totals.total_tokens).toBe(0);
    // Retrieving a finished batch again bills nothing more.
    await own.client.batches.retrieve(batches[0].id);
    const again = await adminRequest<any>(api.url, 'GET', `/admin/workspaces/${own.workspaceId}/usage`);
    expect(again.totals).toEqual(usage.totals);
  });
});

describe('Batch lifecycle edges', () => {
  let storage: TestStorage;
  let stub: StubHandle;
  let api: ApiHandle;
  let tenant: Tenant;

  beforeAll(async () => {
    await flushTestRedis();
    stub = await startStub();
    storage = await startTestStorage();
    api = await startApi({ ...storage.env, BATCH_WINDOW_OVERRIDE_SECONDS: '3' });
    tenant = await newTenant(api.url);
  });
  afterAll(async () => {
    await api?.stop();
    await stub?.close();
    await storage?.stop();
  });

  it('cancels a batch still validating (no worker running yet): cancelled, nothing executed', async () => {
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-m', numbered(3)));
    const cancelling = await tenant.client.batches.cancel(created.id);
    expect(cancelling.status).toBe('cancelling');
    const worker = await startWorker(stub.url, api.storageDir, storage.env);
    try {
      const batch = await waitForBatch(tenant.client, created.id);
      expect(batch).toMatchObject({
        status: 'cancelled',
        model: null,
        output_file_id: null,
        error_file_id: null,
        in_progress_at: null,
      });
      expect(stub.stats().requests).toBe(0);
    } finally {
      await worker.stop();
    }
  });

  it('expires a batch at expires_at: finished results kept, the rest reported as batch_expired', async () => {
    const worker = await startWorker(stub.url, api.storageDir, { ...storage.env, WORKER_CONCURRENCY: '4' });
    try {
      const created = await createBatch(
        tenant.client,
        CHAT,
        batchLines(
          CHAT,
          'stub-slow',
          numbered(60, (i) => `e ${i} [stub:delay=400]`),
        ),
      );
      expect(created.expires_at).toBe(created.created_at + 3);
      const batch = await waitForBatch(tenant.client, created.id);
      expect(batch.status).toBe('expired');
      expect(typeof batch.expired_at).toBe('number');
      const { output, errors, ids, unique } = await allResults(tenant.client, batch);
      expect(unique).toBe(true);
      expect(ids).toHaveLength(60);
      expect(output.length).toBeGreaterThan(0);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every((l) => l.response === null && l.error?.code === 'batch_expired')).toBe(true);
      expect(errors[0].error?.message).toBe('This request could not be executed before the completion window expired.');
      expect(batch.request_counts).toEqual({ total: 60, completed: output.length, failed: errors.length });
      const usage = await adminRequest<any>(api.url, 'GET', `/admin/workspaces/${tenant.workspaceId}/usage`);
      expect(usage.by_model).toEqual([
        expect.objectContaining({
          model: 'stub-slow',
          batches: 1,
          requests: output.length,
          input_tokens: batch.usage?.input_tokens,
        }),
      ]);
    } finally {
      await worker.stop();
    }
  });
});

describe('Batch creation when Redis is unreachable', () => {
  it('answers 503 in the envelope and leaves no batch behind', async () => {
    const api = await startApi({ REDIS_URL: 'redis://127.0.0.1:1/0' });
    try {
      const tenant = await newTenant(api.url);
      const input = await uploadBatchInput(tenant.client, batchLines(CHAT, 'm', numbered(1)));
      const answer = await postJson(api.url, '/v1/batches', tenant.key, {
        input_file_id: input.id,
        endpoint: CHAT,
        completion_window: '24h',
      });
      expectEnvelope(answer, 503, { type: 'server_error', message: /queue is unavailable/ });
      const list = await tenant.client.batches.list();
      expect(list.data).toEqual([]);
    } finally {
      await api.stop();
    }
  });
});
