import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
import { startStub, type StubHandle, TERMINAL, uploadBatchInput, waitForBatch } from '../support/batches';
import { type ApiHandle, type AppProcess, spawnApp, startApi, startWorker } from '../support/processes';
import { ADMIN_KEY, TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';
import { waitUntil } from '../support/poll';

const run = promisify(execFile);
const CHAT = '/v1/chat/completions';
const DEFAULT_CEILING = 100;

const line = (customId: string, body: Record<string, unknown>, url = CHAT) =>
  JSON.stringify({ custom_id: customId, method: 'POST', url, body });
const user = (content: unknown) => ({ role: 'user', content });
const jsonl = (...lines: string[]) => `${lines.join('\n')}\n`;

/**
 * Token counts, by the OpenAI chat rule (3 per message + role + content, 3 to prime the reply):
 * "hello world" is 2 tokens in both encodings, "こんにちは世界" 2 in o200k_base and 4 in cl100k_base,
 * "user", "system" and "hello" 1 each.
 */
const MIXED = jsonl(
  // gpt-4o (o200k_base): 3 + (3 + 1 + 2) = 9 input, 50 out
  line('a', { model: 'gpt-4o', messages: [user('hello world')], max_tokens: 50 }),
  '',
  // gpt-4o: 3 + (3 + 1 + 1) + (3 + 1 + 2) = 14 input, 20 out; text parts counted, the image not
  line('b', {
    model: 'gpt-4o',
    messages: [
      { role: 'system', content: 'hello' },
      user([
        { type: 'text', text: 'こんにちは世界' },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
      ]),
    ],
    max_completion_tokens: 20,
  }),
  // gpt-4 (cl100k_base): 3 + (3 + 1 + 4) = 11 input, no ceiling: the default 100
  line('c', { model: 'gpt-4-0613', messages: [user('こんにちは世界')] }),
  // unknown model: o200k_base as fallback, 9 input, 7 out
  line('d', { model: 'local-llama', messages: [user('hello world')], max_tokens: 7 }),
);

const PRICES = [
  'batch_discount: 0.5',
  'models:',
  '  - { match: "gpt-4o*", input_per_million: 2.5, output_per_million: 10 }',
  '  - { match: "gpt-4*", input_per_million: 30, output_per_million: 60 }',
].join('\n');

describe('Batch estimates and monthly token budgets', () => {
  let stub: StubHandle;
  let api: ApiHandle;
  let worker: AppProcess | undefined;
  let tenant: Tenant;
  let stranger: Tenant;

  const estimate = (who: Tenant, inputFileId: string, endpoint = CHAT) =>
    postJson(api.url, '/v1/batches/estimate', who.key, { input_file_id: inputFileId, endpoint });
  const upload = async (who: Tenant, content: string) => (await uploadBatchInput(who.client, content)).id;
  const createBatch = (who: Tenant, inputFileId: string) =>
    postJson(api.url, '/v1/batches', who.key, { input_file_id: inputFileId, endpoint: CHAT, completion_window: '24h' });
  const setBudget = (who: Tenant, budget: number | null) =>
    raw(api.url, `/admin/workspaces/${who.workspaceId}`, {
      method: 'PATCH',
      key: ADMIN_KEY,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ monthly_token_budget: budget }),
    });
  const currentMonth = async (who: Tenant) =>
    (
      await adminRequest<{ current_month: { budget: number | null; used: number; reserved: number } }>(
        api.url,
        'GET',
        `/admin/workspaces/${who.workspaceId}/usage`,
      )
    ).current_month;

  beforeAll(async () => {
    await flushTestRedis();
    stub = await startStub();
    const prices = join(mkdtempSync(join(tmpdir(), 'venna-prices-')), 'prices.yaml');
    writeFileSync(prices, PRICES);
    api = await startApi({ PRICES_FILE: prices, ESTIMATE_DEFAULT_MAX_OUTPUT_TOKENS: String(DEFAULT_CEILING) });
    tenant = await newTenant(api.url);
    stranger = await newTenant(api.url);
  });
  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await stub?.close();
  });

  it('counts requests, input tokens and output ceilings per model, each with its tokenizer', async () => {
    const fileId = await upload(tenant, MIXED);
    const answer = await estimate(tenant, fileId);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      object: 'batch.estimate',
      input_file_id: fileId,
      endpoint: CHAT,
      request_count: 4,
      input_tokens: 43,
      max_output_tokens: 177,
      requests_without_max_tokens: 1,
      // local-llama has no price: a total without it would mislead
      cost_usd: null,
    });
    expect(answer.body.models).toEqual({
      'gpt-4o': {
        tokenizer: 'o200k_base',
        requests: 2,
        input_tokens: 23,
        max_output_tokens: 70,
        // (23 × 2.5 + 70 × 10) / 1M × 0.5
        cost_usd: 0.00037875,
      },
      'gpt-4-0613': {
        tokenizer: 'cl100k_base',
        requests: 1,
        input_tokens: 11,
        max_output_tokens: 100,
        // (11 × 30 + 100 × 60) / 1M × 0.5
        cost_usd: 0.003165,
      },
      'local-llama': {
        tokenizer: 'o200k_base (fallback)',
        requests: 1,
        input_tokens: 9,
        max_output_tokens: 7,
        cost_usd: null,
      },
    });
  });

  it('prices the whole batch when every model has a price; embeddings have no output', async () => {
    const priced = await upload(tenant, MIXED.split('\n').slice(0, 4).join('\n'));
    const answer = await estimate(tenant, priced);
    expect(answer.body).toMatchObject({ request_count: 3, input_tokens: 34, max_output_tokens: 170 });
    expect(answer.body.cost_usd).toBeCloseTo(0.00037875 + 0.003165, 12);

    const embeddings = await upload(
      tenant,
      jsonl(
        line('e1', { model: 'text-embedding-3-small', input: ['hello world', 'こんにちは世界'] }, '/v1/embeddings'),
        line('e2', { model: 'text-embedding-3-small', input: 'hello world' }, '/v1/embeddings'),
      ),
    );
    const counted = await estimate(tenant, embeddings, '/v1/embeddings');
    expect(counted.body).toMatchObject({ request_count: 2, input_tokens: 8, max_output_tokens: 0 });
    expect(counted.body.models['text-embedding-3-small'].tokenizer).toBe('cl100k_base');
  });

  it('answers 400 naming the rule and the line that validation would report', async () => {
    const badUrl = await upload(
      tenant,
      jsonl(
        line('a', { model: 'gpt-4o', messages: [user('hi')] }),
        line('b', { model: 'gpt-4o', messages: [user('hi')] }),
        line('c', { model: 'gpt-4o', input: 'hi' }, '/v1/embeddings'),
      ),
    );
    expectEnvelope(await estimate(tenant, badUrl), 400, { code: 'url_mismatch', param: 'url', message: /Line 3/ });
    const duplicate = await upload(
      tenant,
      jsonl(line('a', { model: 'gpt-4o', messages: [] }), line('a', { model: 'gpt-4o', messages: [] })),
    );
    expectEnvelope(await estimate(tenant, duplicate), 400, {
      code: 'duplicate_custom_id',
      message: /Line 2: the custom_id 'a' is already used/,
    });
    expectEnvelope(await postJson(api.url, '/v1/batches/estimate', tenant.key, { input_file_id: badUrl }), 400, {
      message: /endpoint/,
    });
  });

  it("answers 404 for another workspace's file, and 400 for a file that is not a batch input", async () => {
    const mine = await upload(tenant, MIXED);
    expectEnvelope(await estimate(stranger, mine), 404, { message: new RegExp(`No such File object: ${mine}`) });
    const notes = await raw(api.url, '/v1/files', {
      method: 'POST',
      key: tenant.key,
      body: (() => {
        const form = new FormData();
        form.set('purpose', 'user_data');
        form.set('file', new Blob(['notes']), 'notes.txt');
        return form;
      })(),
    });
    expectEnvelope(await estimate(tenant, notes.body.id), 400, { param: 'input_file_id', message: /purpose/ });
  });

  describe('a file of large lines', () => {
    /** ~20 MB of text in one line: counted on the event loop, it would hold every other request for a second or more. */
    const largeLine = (customId: string) =>
      line(customId, {
        model: 'gpt-4o',
        messages: [user(Array.from({ length: 3_000_000 }, (_, i) => `w${i % 9973}`).join(' '))],
      });
    let largeFile: string;
    beforeAll(async () => {
      largeFile = await upload(tenant, jsonl(largeLine('large-1'), largeLine('large-2')));
    });

    it('is counted off the event loop: the api answers a health probe at once meanwhile', async () => {
      let counted = false;
      const estimating = estimate(tenant, largeFile).finally(() => (counted = true));
      const delays: number[] = [];
      const probedUntilCounted = async () => {
        const sent = performance.now();
        expect((await raw(api.url, '/health/live')).status).toBe(200);
        delays.push(performance.now() - sent);
        return counted;
      };
      await waitUntil(probedUntilCounted, { what: 'the estimate to be counted', timeoutMs: 50_000, intervalMs: 20 });
      expect(await estimating).toMatchObject({ status: 200, body: { request_count: 2 } });
      expect(delays.length).toBeGreaterThan(5);
      expect(Math.max(...delays), `health probe delays (ms): ${delays.map(Math.round).join(', ')}`).toBeLessThan(500);
    });

    it('waits its turn past ESTIMATE_CONCURRENCY estimates at once', async () => {
      const single = await startApi({ ESTIMATE_CONCURRENCY: '1' }, api.storageDir);
      try {
        const small = await upload(tenant, MIXED);
        const finished: string[] = [];
        const run = (fileId: string, name: string) =>
          postJson(single.url, '/v1/batches/estimate', tenant.key, { input_file_id: fileId, endpoint: CHAT }).then(
            (answer) => {
              finished.push(name);
              return answer.status;
            },
          );
        const large = run(largeFile, 'large');
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(await Promise.all([large, run(small, 'small')])).toEqual([200, 200]);
        expect(finished).toEqual(['large', 'small']);
      } finally {
        await single.stop();
      }
    });
  });

  it('documents the estimate in Swagger under its own tag', async () => {
    const doc = (await (await fetch(`${api.url}/docs-json`)).json()) as any;
    const operation = doc.paths['/v1/batches/estimate'].post;
    expect(operation.tags).toEqual(['Batches (extensions)']);
    expect(operation.responses['200'].content['application/json'].schema.$ref).toMatch(/BatchEstimateDto$/);
    expect(doc.paths['/admin/workspaces/{id}'].patch).toBeDefined();
  });

  it('refuses to start with a price table it cannot use, naming the entry', async () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'venna-prices-')), 'prices.json');
    writeFileSync(bad, JSON.stringify({ models: [{ match: 'gpt-4o*', input_per_million: 'cheap' }] }));
    const app = spawnApp('api', {
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      STORAGE_DIR: api.storageDir,
      PRICES_FILE: bad,
    });
    expect(await app.waitForExit()).toBe(1);
    expect(app.output).toMatch(/Configuration error: PRICES_FILE .*model #1 needs "input_per_million"/);
  });

  describe('monthly token budget', () => {
    let owner: Tenant;
    // 3 + (3 + 1 + 2) = 9 input tokens + the ceiling
    const fileOf = (ceiling: number) =>
      upload(owner, jsonl(line('only', { model: 'gpt-4o', messages: [user('hello world')], max_tokens: ceiling })));

    beforeAll(async () => {
      owner = await newTenant(api.url);
    });

    it('admits a batch that fits and refuses one that does not, with the figures', async () => {
      const set = await setBudget(owner, 100);
      expect(set.status).toBe(200);
      expect(set.body).toMatchObject({ id: owner.workspaceId, monthly_token_budget: 100 });
      expectEnvelope(await setBudget(owner, -1), 400, { message: /monthly_token_budget/ });

      expect((await createBatch(owner, await fileOf(31))).status).toBe(200); // 40 tokens
      expect(await currentMonth(owner)).toMatchObject({ budget: 100, used: 0, reserved: 40 });

      const refused = await createBatch(owner, await fileOf(61)); // 70 tokens; 60 are left
      expectEnvelope(refused, 429, {
        code: 'budget_exceeded',
        message:
          /budget 100, used 0, reserved 40 by open batches, this batch's estimate 70 \(9 input \+ 61 output ceiling\); 60 tokens are left/,
      });
      expect(refused.headers.get('x-should-retry')).toBe('false');
      const listed = await owner.client.batches.list();
      expect(listed.data).toHaveLength(1);
    });

    it('lets exactly the batches that fit through when creates race for the last of the budget', async () => {
      // 60 left: six batches of 10 fit, the other six must be refused. One file for all, so that the twelve
      // finish reading it together and reach the check at the same moment.
      const file = await fileOf(1);
      const answers = await Promise.all(Array.from({ length: 12 }, () => createBatch(owner, file)));
      expect(answers.filter((a) => a.status === 200)).toHaveLength(6);
      for (const refused of answers.filter((a) => a.status !== 200)) {
        expectEnvelope(refused, 429, { code: 'budget_exceeded' });
      }
      expect(await currentMonth(owner)).toMatchObject({ budget: 100, used: 0, reserved: 100 });
    });

    it('null removes the budget', async () => {
      // From a terminal, as an operator would.
      const { stdout } = await run(
        process.execPath,
        ['scripts/cli.mjs', 'workspaces', 'budget', owner.workspaceId, 'none'],
        {
          env: { PATH: process.env.PATH, VENNA_URL: api.url, ADMIN_API_KEY: ADMIN_KEY },
        },
      );
      expect(JSON.parse(stdout).monthly_token_budget).toBeNull();
      expect((await createBatch(owner, await fileOf(61))).status).toBe(200);
      // Without a budget nothing is estimated, so that batch reserves nothing.
      expect(await currentMonth(owner)).toMatchObject({ budget: null, used: 0, reserved: 100 });
    });

    it('releases reservations when batches end, and counts what the ledger billed as used', async () => {
      worker = await startWorker(stub.url, api.storageDir);
      for (const batch of (await owner.client.batches.list()).data) {
        expect((await waitForBatch(owner.client, batch.id)).status).toBe('completed');
      }
      const usage = await adminRequest<{ totals: { total_tokens: number } }>(
        api.url,
        'GET',
        `/admin/workspaces/${owner.workspaceId}/usage`,
      );
      const billed = usage.totals.total_tokens;
      expect(billed).toBeGreaterThan(0);
      expect(await currentMonth(owner)).toMatchObject({ budget: null, used: billed, reserved: 0 });

      // A batch that ends without a ledger row (here: it fails validation, a batch runs one model) gives its
      // reservation back too.
      await setBudget(owner, 1000);
      const twoModels = await upload(
        owner,
        jsonl(
          line('x', { model: 'gpt-4o', messages: [user('hello world')], max_tokens: 1 }),
          line('y', { model: 'gpt-4', messages: [user('hello world')], max_tokens: 1 }),
        ),
      );
      const failing = await createBatch(owner, twoModels);
      expect(failing.status).toBe(200);
      expect((await waitForBatch(owner.client, failing.body.id)).status).toBe('failed');
      expect(await currentMonth(owner)).toMatchObject({ used: billed, reserved: 0 });

      // What is left is budget − used: a 40-token batch needs 40 of it.
      await setBudget(owner, billed + 39);
      expectEnvelope(await createBatch(owner, await fileOf(31)), 429, { code: 'budget_exceeded' });
      await setBudget(owner, billed + 40);
      const admitted = await createBatch(owner, await fileOf(31));
      expect(admitted.status).toBe(200);
      expect(TERMINAL).not.toContain(admitted.body.status);
    });
  });
});
