import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, newTenant } from '../support/clients';
import { allResults, createBatch, type StubHandle, startStub, TERMINAL, waitForBatch } from '../support/batches';
import { upstreamsFile } from '../support/provider-instance';
import { startStack, type Stack } from '../support/stack';

const CHAT = '/v1/chat/completions';

const line = (customId: string, body: Record<string, unknown>) =>
  JSON.stringify({ custom_id: customId, method: 'POST', url: CHAT, body });
const chat = (model: string, text: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [
    { role: 'system', content: 'Answer briefly.' },
    { role: 'user', content: text },
  ],
  ...extra,
});

/**
 * Native provider batches on Anthropic's Message Batches (the stub speaks them): chat completions translated
 * to Messages params and back, ids any OpenAI custom_id may be, expiry with and without a fallback, cancel.
 */
describe("Native provider batches (Anthropic's Message Batches)", () => {
  let anthropic: StubHandle;
  let online: StubHandle;
  let stack: Stack;

  beforeAll(async () => {
    anthropic = await startStub({ apiKey: 'sk-ant-test', messageBatchMs: 300 });
    online = await startStub();
    const routes = upstreamsFile([
      {
        match: 'claude-*',
        name: 'anthropic',
        base_url: anthropic.url,
        api_key_env: 'ANTHROPIC_KEY',
        batch: 'native',
        protocol: 'anthropic',
      },
      {
        match: 'fallback-claude-*',
        name: 'anthropic-then-online',
        base_url: anthropic.url,
        api_key_env: 'ANTHROPIC_KEY',
        batch: 'native',
        protocol: 'anthropic',
        fallback: ['online'],
      },
      { match: 'online-only', name: 'online', base_url: online.url },
      // An executing upstream nobody listens on, falling back to another executing one.
      { match: 'exec-*', name: 'gone', base_url: 'http://127.0.0.1:9/v1', fallback: ['online'] },
    ]);
    stack = await startStack({
      storage: true,
      worker: {
        UPSTREAMS_FILE: routes,
        ANTHROPIC_KEY: 'sk-ant-test',
        NATIVE_BATCH_POLL_SECONDS: '1',
        BATCH_SWEEP_INTERVAL_MS: '1000',
      },
    });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    await online?.close();
    await anthropic?.close();
  });

  it('translates chat completions to Messages and back; any custom_id round-trips, results in any order', async () => {
    const tenant = await newTenant(stack.api.url);
    const odd = `a b/c: ü 日本語 "quoted" ${'x'.repeat(80)}`.slice(0, 80);
    const content = [
      line(odd, chat('claude-sonnet-4', 'first question')),
      line('plain-2', chat('claude-sonnet-4', 'second question', { max_completion_tokens: 50, stop: 'END' })),
      line(
        'tool-3',
        chat('claude-sonnet-4', 'weather in Paris?', {
          tools: [
            { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } },
          ],
          tool_choice: { type: 'function', function: { name: 'get_weather' } },
        }),
      ),
      line('refused-4', chat('claude-sonnet-4', 'bad [stub:fail=400]')),
    ].join('\n');
    const created = await createBatch(tenant.client, CHAT, content);
    const batch = await waitForBatch(tenant.client, created.id, undefined, 30_000);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 4, completed: 3, failed: 1 });
    const { output, errors, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    // In input order in our file, whatever order the provider answered in.
    expect(output.map((l) => l.custom_id)).toEqual([odd, 'plain-2', 'tool-3']);
    const [first, second, tool] = output.map((l) => l.response!.body);
    expect(first).toMatchObject({ object: 'chat.completion', model: 'claude-sonnet-4' });
    expect(first.choices[0]).toMatchObject({ finish_reason: 'stop', message: { role: 'assistant' } });
    expect(first.choices[0].message.content).toContain('first question');
    expect(second.choices[0].message.content).toContain('second question');
    expect(first.usage.prompt_tokens).toBeGreaterThan(0);
    expect(tool.choices[0].finish_reason).toBe('tool_calls');
    expect(tool.choices[0].message.tool_calls[0]).toMatchObject({
      type: 'function',
      function: { name: 'get_weather' },
    });
    expect(errors).toEqual([
      expect.objectContaining({
        custom_id: 'refused-4',
        response: expect.objectContaining({
          status_code: 400,
          body: { error: expect.objectContaining({ type: 'invalid_request_error' }) },
        }),
      }),
    ]);
    const usage = output.reduce((sum, l) => sum + (l.response!.body.usage.prompt_tokens as number), 0);
    expect(batch.usage!.input_tokens).toBe(usage);
    expect(anthropic.stats().messageBatches.created).toBe(1);
    await expect.poll(() => anthropic.stats().messageBatches.deleted, { timeout: 10_000 }).toBe(1);
  });

  it('refuses at validation what Message Batches cannot take: another endpoint, a request it cannot translate', async () => {
    const tenant = await newTenant(stack.api.url);
    const embeddings = JSON.stringify({
      custom_id: 'e-1',
      method: 'POST',
      url: '/v1/embeddings',
      body: { model: 'claude-sonnet-4', input: 'x' },
    });
    const wrongEndpoint = await createBatch(tenant.client, '/v1/embeddings', embeddings);
    const failed = await waitForBatch(tenant.client, wrongEndpoint.id);
    expect(failed.status).toBe('failed');
    expect(failed.errors?.data?.[0]).toMatchObject({ code: 'invalid_request', line: 1 });
    expect(failed.errors?.data?.[0].message).toMatch(
      /Anthropic's Message Batches, which take only \/v1\/chat\/completions/,
    );

    const content = [
      line('ok', chat('claude-sonnet-4', 'fine')),
      line('n', chat('claude-sonnet-4', 'two answers', { n: 2 })),
    ].join('\n');
    const untranslatable = await waitForBatch(tenant.client, (await createBatch(tenant.client, CHAT, content)).id);
    expect(untranslatable.status).toBe('failed');
    expect(untranslatable.errors?.data).toEqual([expect.objectContaining({ code: 'invalid_request', line: 2 })]);
    expect(untranslatable.errors?.data?.[0].message).toMatch(/^Line 2: .*\bn\b/);
  });

  it('ends the lines of an expired provider batch batch_expired without a fallback, and re-runs them with one', async () => {
    const tenant = await newTenant(stack.api.url);
    const content = (model: string) =>
      [0, 1, 2, 3].map((i) => line(`e-${i}`, chat(model, `q${i}${i % 2 ? ' [stub:expire=1]' : ''}`))).join('\n');

    const alone = await waitForBatch(
      tenant.client,
      (await createBatch(tenant.client, CHAT, content('claude-haiku'))).id,
      undefined,
      30_000,
    );
    expect(alone.status).toBe('completed');
    expect(alone.request_counts).toEqual({ total: 4, completed: 2, failed: 2 });
    const lonely = await allResults(tenant.client, alone);
    expect(lonely.errors.map((l) => [l.custom_id, l.error?.code])).toEqual([
      ['e-1', 'batch_expired'],
      ['e-3', 'batch_expired'],
    ]);

    online.reset();
    const helped = await waitForBatch(
      tenant.client,
      (await createBatch(tenant.client, CHAT, content('fallback-claude-x'))).id,
      undefined,
      30_000,
    );
    expect(helped.request_counts).toEqual({ total: 4, completed: 4, failed: 0 });
    const rescued = await allResults(tenant.client, helped);
    expect(rescued.output.map((l) => [l.custom_id, l.response?.body.object])).toEqual([
      ['e-0', 'chat.completion'],
      ['e-1', 'chat.completion'],
      ['e-2', 'chat.completion'],
      ['e-3', 'chat.completion'],
    ]);
    expect(online.stats().requests).toBe(2);
    const usage = await adminRequest<{ by_model: { model: string; pricing: string; requests: number }[] }>(
      stack.api.url,
      'GET',
      `/admin/workspaces/${tenant.workspaceId}/usage`,
    );
    expect(usage.by_model.map((row) => [row.model, row.pricing, row.requests])).toEqual([
      ['claude-haiku', 'batch', 2],
      ['fallback-claude-x', 'batch', 2],
      ['fallback-claude-x', 'online', 2],
    ]);
  });

  it('cancels the Message Batch with ours: lines it ran are kept, the others end batch_cancelled', async () => {
    const tenant = await newTenant(stack.api.url);
    const content = Array.from({ length: 40 }, (_, i) =>
      line(`c-${i}`, chat('claude-sonnet-4', `slow ${i}${i === 0 ? ' [stub:batchdelay=8000]' : ''}`)),
    ).join('\n');
    const created = await createBatch(tenant.client, CHAT, content);
    await expect
      .poll(() => anthropic.stats().messageBatches.processed, { timeout: 20_000 })
      .toBeGreaterThan(anthropic.stats().messageBatches.processed + 3);
    await tenant.client.batches.cancel(created.id);
    const batch = await waitForBatch(tenant.client, created.id, (b) => TERMINAL.includes(b.status), 30_000);
    expect(batch.status).toBe('cancelled');
    expect(anthropic.stats().messageBatches.cancelled).toBe(1);
    const { output, errors, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    expect(output.length).toBeGreaterThan(0);
    expect(output.length).toBeLessThan(40);
    expect(errors).toHaveLength(40 - output.length);
    expect(errors.every((l) => l.error?.code === 'batch_cancelled')).toBe(true);
  });

  it('serves partial results and retries failed lines of a native batch as of any other', async () => {
    const tenant = await newTenant(stack.api.url);
    const content = [0, 1, 2].map((i) =>
      line(`r-${i}`, chat('claude-haiku', `q${i}${i === 1 ? ' [stub:fail=500]' : ''}`)),
    );
    const batch = await waitForBatch(
      tenant.client,
      (await createBatch(tenant.client, CHAT, content.join('\n'))).id,
      undefined,
      30_000,
    );
    expect(batch.request_counts).toEqual({ total: 3, completed: 2, failed: 1 });
    const results = await fetch(`${stack.api.url}/v1/batches/${batch.id}/results`, {
      headers: { authorization: `Bearer ${tenant.key}` },
    });
    expect(results.headers.get('x-results-complete')).toBe('true');
    const streamed = (await results.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { custom_id: string });
    const { output, errors } = await allResults(tenant.client, batch);
    expect(streamed.map((l) => l.custom_id).sort()).toEqual([...output, ...errors].map((l) => l.custom_id).sort());
    expect(errors.map((l) => [l.custom_id, l.response?.status_code])).toEqual([['r-1', 500]]);

    const created = anthropic.stats().messageBatches.created;
    const retried = await tenant.client.post<{ id: string; retry_of: string }>(`/batches/${batch.id}/retry`);
    expect(retried.retry_of).toBe(batch.id);
    const again = await waitForBatch(tenant.client, retried.id, undefined, 30_000);
    expect(again.request_counts).toEqual({ total: 1, completed: 0, failed: 1 });
    expect(anthropic.stats().messageBatches.created).toBe(created + 1);
  });

  it('falls back from an executing upstream to the next one of its list', async () => {
    const tenant = await newTenant(stack.api.url);
    online.reset();
    const content = [0, 1].map((i) => line(`x-${i}`, chat('exec-model', `hello ${i}`))).join('\n');
    const batch = await waitForBatch(tenant.client, (await createBatch(tenant.client, CHAT, content)).id);
    expect(batch.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    expect(online.stats().requests).toBe(2);
    expect(stack.worker.output).toMatch(/A line gone failed \(upstream_unreachable\) goes to its fallback online/);
  });
});

describe('Native provider batches: our completion window bounds the wait', () => {
  let anthropic: StubHandle;
  let stack: Stack;

  beforeAll(async () => {
    anthropic = await startStub({ messageBatchMs: 300 });
    const routes = upstreamsFile([
      { match: 'claude-*', name: 'anthropic', base_url: anthropic.url, batch: 'native', protocol: 'anthropic' },
    ]);
    stack = await startStack({
      storage: true,
      api: { BATCH_WINDOW_OVERRIDE_SECONDS: '4' },
      worker: { UPSTREAMS_FILE: routes, NATIVE_BATCH_POLL_SECONDS: '1' },
    });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    await anthropic?.close();
  });

  it('cancels a provider batch still running when our window ends, keeps what it ran, expires the rest', async () => {
    const { tenant } = stack;
    const content = Array.from({ length: 30 }, (_, i) =>
      line(`w-${i}`, chat('claude-sonnet-4', `q${i}${i === 0 ? ' [stub:batchdelay=30000]' : ''}`)),
    ).join('\n');
    const batch = await waitForBatch(
      tenant.client,
      (await createBatch(tenant.client, CHAT, content)).id,
      undefined,
      30_000,
    );
    expect(batch.status).toBe('expired');
    expect(anthropic.stats().messageBatches.cancelled).toBe(1);
    const { output, errors, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    expect(output.length).toBeGreaterThan(0);
    expect(errors).toHaveLength(30 - output.length);
    expect(errors.every((l) => l.error?.code === 'batch_expired')).toBe(true);
    expect(batch.request_counts).toEqual({ total: 30, completed: output.length, failed: errors.length });
  });
});
