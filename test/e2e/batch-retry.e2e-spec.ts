import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvelope, newTenant, raw, type Tenant } from '../support/clients';
import { ADMIN_KEY } from '../support/env';
import { batchLines, uploadBatchInput, waitForBatch } from '../support/batches';
import { type ApiHandle } from '../support/processes';
import { startStack, type Stack } from '../support/stack';

/** The batch object with the two extension fields the SDK keeps as they come. */
type LinkedBatch = OpenAI.Batches.Batch & { retry_of: string | null; retried_by: string | null };

/** POST /v1/batches/{id}/retry: the lines that did not succeed, as a new batch linked both ways. */
describe('Batch retry', () => {
  let stack: Stack;
  let api: ApiHandle;
  let tenant: Tenant;

  const retrieve = async (id: string) => (await tenant.client.batches.retrieve(id)) as unknown as LinkedBatch;
  const retry = (id: string, client = tenant.client) => client.post<LinkedBatch>(`/batches/${id}/retry`);
  const contentOf = async (fileId: string) => (await tenant.client.files.content(fileId)).text();
  const run = async (content: string, metadata?: Record<string, string>) => {
    const file = await uploadBatchInput(tenant.client, content);
    const batch = await tenant.client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata,
    });
    return waitForBatch(tenant.client, batch.id);
  };

  beforeAll(async () => {
    stack = await startStack({
      storage: true,
      worker: { BATCH_CHUNK_SIZE: '5', WORKER_CONCURRENCY: '2', WORKER_CHUNK_JOBS: '1' },
    });
    ({ api, tenant } = stack);
  });
  afterAll(() => stack?.stop());

  it('makes a batch of exactly the failed lines, byte for byte, linked both ways, that runs', async () => {
    const line = (id: string, text: string) =>
      JSON.stringify({
        custom_id: id,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'gpt-test', messages: [{ role: 'user', content: text }], temperature: 0.5 },
      });
    const lines = [
      line('ok-1', 'fine'),
      line('bad-1', 'refused [stub:fail=400]'),
      line('ok-2', 'fine too'),
      // Odd spacing, unicode and a CRLF ending: kept as they were.
      ` {"custom_id": "bad-2", "method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-test","messages":[{"role":"user","content":"é ✓ [stub:fail=500]"}]}}`,
      line('ok-3', 'fine again'),
    ];
    const content = `${lines[0]}\n${lines[1]}\n${lines[2]}\n${lines[3]}\r\n${lines[4]}\n`;
    const original = await run(content, { team: 'search' });
    expect(original).toMatchObject({ status: 'completed', request_counts: { total: 5, completed: 3, failed: 2 } });
    expect((await retrieve(original.id)).retried_by).toBeNull();

    const retried = await retry(original.id);
    expect(retried).toMatchObject({
      object: 'batch',
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { team: 'search' },
      retry_of: original.id,
      retried_by: null,
    });
    expect(retried.id).not.toBe(original.id);
    expect(await contentOf(retried.input_file_id)).toBe(`${lines[1]}\n${lines[3]}\r\n`);
    const input = await tenant.client.files.retrieve(retried.input_file_id);
    expect(input).toMatchObject({ purpose: 'batch', filename: `${original.id}_retry.jsonl` });

    // The link both ways, through the SDK's retrieve.
    expect((await retrieve(original.id)).retried_by).toBe(retried.id);
    const done = (await waitForBatch(tenant.client, retried.id)) as LinkedBatch;
    expect(done).toMatchObject({ status: 'completed', retry_of: original.id, request_counts: { total: 2 } });

    // Asking again answers the same retry; the retry can itself be retried.
    expect((await retry(original.id)).id).toBe(retried.id);
    const second = await retry(retried.id);
    expect(second.retry_of).toBe(retried.id);
    expect(await contentOf(second.input_file_id)).toBe(`${lines[1]}\n${lines[3]}\r\n`);
    expect((await retrieve(retried.id)).retried_by).toBe(second.id);
  });

  it('a batch whose every request succeeded answers 400, and keeps no file', async () => {
    const ok = await run(batchLines('/v1/chat/completions', 'gpt-test', [{ customId: 'a', text: 'fine' }]));
    expect(ok.request_counts).toMatchObject({ completed: 1, failed: 0 });
    const filesBefore = (await tenant.client.files.list({ purpose: 'batch' })).data.length;
    const answer = await raw(api.url, `/v1/batches/${ok.id}/retry`, { method: 'POST', key: tenant.key });
    expectEnvelope(answer, 400, { code: 'nothing_to_retry', param: 'batch_id' });
    expect((await tenant.client.files.list({ purpose: 'batch' })).data.length).toBe(filesBefore);
    expect((await retrieve(ok.id)).retried_by).toBeNull();
  });

  it("a retry is a new batch like any other: past the workspace's budget it answers 429, and keeps no file", async () => {
    const spender = await newTenant(api.url);
    const file = await uploadBatchInput(
      spender.client,
      batchLines('/v1/chat/completions', 'gpt-test', [{ customId: 'bad', text: 'refused [stub:fail=400]' }]),
    );
    const created = await spender.client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const failed = await waitForBatch(spender.client, created.id);
    expect(failed.request_counts).toMatchObject({ completed: 0, failed: 1 });
    const budget = await raw(api.url, `/admin/workspaces/${spender.workspaceId}`, {
      method: 'PATCH',
      key: ADMIN_KEY,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ monthly_token_budget: 0 }),
    });
    expect(budget.status).toBe(200);
    const filesBefore = (await spender.client.files.list({ purpose: 'batch' })).data.length;
    const answer = await raw(api.url, `/v1/batches/${failed.id}/retry`, { method: 'POST', key: spender.key });
    expectEnvelope(answer, 429, { code: 'budget_exceeded' });
    expect((await spender.client.files.list({ purpose: 'batch' })).data.length).toBe(filesBefore);
    expect(((await spender.client.batches.retrieve(failed.id)) as unknown as LinkedBatch).retried_by).toBeNull();
  });

  it("another workspace's batch answers 404", async () => {
    const failing = await run(
      batchLines('/v1/chat/completions', 'gpt-test', [{ customId: 'x', text: '[stub:fail=400]' }]),
    );
    const other = await newTenant(api.url);
    expectEnvelope(await raw(api.url, `/v1/batches/${failing.id}/retry`, { method: 'POST', key: other.key }), 404, {
      param: 'id',
    });
    expectEnvelope(await raw(api.url, '/v1/batches/batch_nope/retry', { method: 'POST', key: tenant.key }), 404);
    expect((await retrieve(failing.id)).retried_by).toBeNull();
  });

  it('a running batch answers 409; once cancelled, its retry holds every line that did not succeed', async () => {
    const requests = Array.from({ length: 30 }, (_, i) => ({
      customId: `slow-${i}`,
      text: `slow ${i} [stub:delay=150]`,
    }));
    const content = batchLines('/v1/chat/completions', 'gpt-test', requests);
    const file = await uploadBatchInput(tenant.client, content);
    const batch = await tenant.client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await waitForBatch(tenant.client, batch.id, (b) => b.request_counts!.completed >= 2);
    expectEnvelope(await raw(api.url, `/v1/batches/${batch.id}/retry`, { method: 'POST', key: tenant.key }), 409, {
      code: 'batch_not_retryable',
    });
    await tenant.client.batches.cancel(batch.id);
    const cancelled = await waitForBatch(tenant.client, batch.id);
    expect(cancelled.status).toBe('cancelled');
    const succeeded = new Set(
      (await contentOf(cancelled.output_file_id!))
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id),
    );
    expect(succeeded.size).toBe(cancelled.request_counts!.completed);
    expect(succeeded.size).toBeLessThan(30);

    const retried = await retry(batch.id);
    const expected = content
      .split('\n')
      .filter(Boolean)
      .filter((l) => !succeeded.has((JSON.parse(l) as { custom_id: string }).custom_id))
      .map((l) => `${l}\n`)
      .join('');
    expect(await contentOf(retried.input_file_id)).toBe(expected);
    const done = await waitForBatch(tenant.client, retried.id);
    expect(done).toMatchObject({ status: 'completed', request_counts: { total: 30 - succeeded.size, failed: 0 } });
  });

  it('Swagger documents the route and the two fields as extensions', async () => {
    const { body: doc } = await raw(api.url, '/docs-json');
    const route = doc.paths['/v1/batches/{batch_id}/retry'].post;
    expect(route.tags).toContain('Batches (Venna extensions)');
    expect(route.description).toMatch(/Venna extension/);
    const schema = doc.components.schemas.BatchObjectDto.properties;
    expect(schema.retry_of.description).toMatch(/Venna extension/);
    expect(schema.retried_by.description).toMatch(/Venna extension/);
  });
});
