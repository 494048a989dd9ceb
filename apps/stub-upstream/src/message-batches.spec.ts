import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createStubUpstream, replyOf, type StubOptions, type StubStats } from './stub-upstream';

const HEADERS = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'sk-ant' };

interface Stub {
  base: string;
  call: (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Answer>;
  stats: () => StubStats;
}
interface Answer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/** A fresh stub on a loopback port for `run`, closed afterwards. */
async function withStub<T>(options: StubOptions, run: (stub: Stub) => Promise<T>): Promise<T> {
  const { server, stats } = createStubUpstream({ apiKey: 'sk-ant', ...options });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call: Stub['call'] = async (method, path, body, headers = HEADERS) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { connection: 'close', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    const json = response.headers.get('content-type') === 'application/json' ? JSON.parse(text) : null;
    return { status: response.status, headers: response.headers, body: json, text };
  };
  try {
    return await run({ base, call, stats });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const request = (customId: string, content = 'Hello', params: Record<string, unknown> = {}) => ({
  custom_id: customId,
  params: { model: 'claude-x', max_tokens: 16, messages: [{ role: 'user', content }], ...params },
});

const create = async (stub: Stub, requests: unknown[]) => {
  const answer = await stub.call('POST', '/v1/messages/batches', { requests });
  expect(answer.status).toBe(200);
  return answer.body;
};

/** Polls the batch until it has ended, as a client would. */
async function ended(stub: Stub, id: string): Promise<any> {
  for (let polls = 0; polls < 250; polls++) {
    const batch = (await stub.call('GET', `/v1/messages/batches/${id}`)).body;
    if (batch.processing_status === 'ended') {
      return batch;
    }
    await sleep(20);
  }
  throw new Error(`Batch ${id} never ended`);
}

const resultsOf = async (stub: Stub, url: string) => {
  const answer = await stub.call('GET', new URL(url).pathname);
  expect(answer.status).toBe(200);
  expect(answer.headers.get('content-type')).toBe('application/binary');
  return answer.text
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
};

describe('stub Message Batches: create, poll, results', () => {
  it('runs a batch in the background and streams each result once, in another order, matched by custom_id', async () => {
    await withStub({}, async (stub) => {
      const tools = [{ name: 'weather', input_schema: { type: 'object', properties: {} } }];
      const requests = [
        request('plain', 'Hello'),
        request('tool', 'Weather?', { tools, tool_choice: { type: 'tool', name: 'weather' } }),
        request('any-tool', 'Weather?', { tools, tool_choice: { type: 'any' } }),
        request('bad', 'x [stub:fail=400]'),
        request('overloaded', 'x [stub:fail=529]'),
        request('late', 'x [stub:expire=1]'),
      ];
      const created = await create(stub, requests);
      expect(created).toMatchObject({
        id: expect.stringMatching(/^msgbatch_/),
        type: 'message_batch',
        processing_status: 'in_progress',
        request_counts: { processing: 6, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
        ended_at: null,
        cancel_initiated_at: null,
        archived_at: null,
        results_url: null,
      });
      expect(Date.parse(created.expires_at) - Date.parse(created.created_at)).toBe(24 * 3_600_000);

      const batch = await ended(stub, created.id);
      expect(batch.request_counts).toEqual({ processing: 0, succeeded: 3, errored: 2, canceled: 0, expired: 1 });
      expect(Date.parse(batch.ended_at)).toBeGreaterThanOrEqual(Date.parse(batch.created_at));
      expect(batch.results_url).toBe(`${stub.base}/v1/messages/batches/${created.id}/results`);

      const lines = await resultsOf(stub, batch.results_url);
      expect(lines.map((line) => line.custom_id)).toEqual(requests.map((item) => item.custom_id).reverse());
      const byId = Object.fromEntries(lines.map((line) => [line.custom_id, line.result]));
      const prompt = JSON.stringify([{ role: 'user', content: 'Hello' }]);
      expect(byId.plain).toEqual({
        type: 'succeeded',
        message: {
          id: expect.stringMatching(/^msg_/),
          type: 'message',
          role: 'assistant',
          model: 'claude-x',
          content: [{ type: 'text', text: replyOf('claude-x', prompt) }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: {
            input_tokens: Math.ceil(prompt.length / 4),
            output_tokens: Math.ceil(replyOf('claude-x', prompt).length / 4),
          },
        },
      });
      for (const id of ['tool', 'any-tool']) {
        expect(byId[id].message).toMatchObject({
          content: [{ type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'weather', input: {} }],
          stop_reason: 'tool_use',
        });
      }
      expect(byId.bad).toEqual({
        type: 'errored',
        error: { type: 'error', error: { type: 'invalid_request_error', message: expect.any(String) } },
      });
      expect(byId.overloaded.error.error.type).toBe('overloaded_error');
      expect(byId.late).toEqual({ type: 'expired' });
      expect(stub.stats().messageBatches).toMatchObject({ created: 1, processed: 6 });
    });
  });

  it('takes [stub:batchdelay=MS] over messageBatchMs', async () => {
    await withStub({ messageBatchMs: 0 }, async (stub) => {
      const quick = await create(stub, [request('a')]);
      const slow = await create(stub, [request('a', 'x [stub:batchdelay=400]')]);
      await sleep(150);
      expect((await stub.call('GET', `/v1/messages/batches/${quick.id}`)).body.processing_status).toBe('ended');
      expect((await stub.call('GET', `/v1/messages/batches/${slow.id}`)).body.processing_status).toBe('in_progress');
      expect((await ended(stub, slow.id)).request_counts.succeeded).toBe(1);
    });
  });

  it('refuses results and deletion before the batch ends, then deletes it', async () => {
    await withStub({}, async (stub) => {
      const { id } = await create(stub, [request('a', '[stub:batchdelay=300]')]);
      expect((await stub.call('GET', `/v1/messages/batches/${id}/results`)).status).toBe(400);
      expect((await stub.call('DELETE', `/v1/messages/batches/${id}`)).status).toBe(400);
      await ended(stub, id);
      const deleted = await stub.call('DELETE', `/v1/messages/batches/${id}`);
      expect(deleted.body).toEqual({ id, type: 'message_batch_deleted' });
      expect((await stub.call('GET', `/v1/messages/batches/${id}`)).body).toEqual({
        type: 'error',
        error: { type: 'not_found_error', message: expect.any(String) },
      });
      expect((await stub.call('GET', `/v1/messages/batches/${id}/results`)).status).toBe(404);
      expect(stub.stats().messageBatches).toMatchObject({ created: 1, deleted: 1 });
    });
  });
});

describe('stub Message Batches: cancel', () => {
  it('cancels mid-run: done requests keep their results, the others end canceled', async () => {
    await withStub({}, async (stub) => {
      const requests = [
        request('r0', 'x [stub:fail=500]'),
        request('r1', 'x [stub:expire=1]'),
        ...Array.from({ length: 8 }, (_, index) => request(`r${index + 2}`, 'x [stub:batchdelay=2000]')),
      ];
      const { id } = await create(stub, requests);
      while (stub.stats().messageBatches.processed < 3) {
        await sleep(10);
      }
      const canceling = await stub.call('POST', `/v1/messages/batches/${id}/cancel`);
      expect(canceling.body).toMatchObject({ processing_status: 'canceling', results_url: null });
      expect(canceling.body.cancel_initiated_at).toEqual(expect.any(String));

      const batch = await ended(stub, id);
      const counts = batch.request_counts;
      expect(counts).toMatchObject({ processing: 0, errored: 1, expired: 1 });
      expect(counts.succeeded).toBeGreaterThanOrEqual(1);
      expect(counts.canceled).toBeGreaterThanOrEqual(1);
      expect(counts.succeeded + counts.canceled).toBe(8);

      const lines = await resultsOf(stub, batch.results_url);
      expect(new Set(lines.map((line) => line.result.type))).toEqual(
        new Set(['succeeded', 'errored', 'canceled', 'expired']),
      );
      expect(lines.map((line) => line.custom_id).sort()).toEqual(requests.map((item) => item.custom_id).sort());
      expect(lines.find((line) => line.custom_id === 'r0').result.error.error.type).toBe('api_error');
      expect(stub.stats().messageBatches.cancelled).toBe(1);
    });
  });

  it('leaves an ended batch as it is', async () => {
    await withStub({ messageBatchMs: 0 }, async (stub) => {
      const { id } = await create(stub, [request('a')]);
      await ended(stub, id);
      const cancel = await stub.call('POST', `/v1/messages/batches/${id}/cancel`);
      expect(cancel.body).toMatchObject({ processing_status: 'ended', cancel_initiated_at: null });
      expect(stub.stats().messageBatches.cancelled).toBe(0);
    });
  });
});

describe('stub Message Batches: list', () => {
  it('pages newest first with after_id and before_id', async () => {
    await withStub({ messageBatchMs: 0 }, async (stub) => {
      const ids: string[] = [];
      for (let index = 0; index < 5; index++) {
        ids.unshift((await create(stub, [request('a')])).id);
      }
      const page = async (query: string) => (await stub.call('GET', `/v1/messages/batches?${query}`)).body;

      const first = await page('limit=2');
      expect(first.data.map((batch: { id: string }) => batch.id)).toEqual(ids.slice(0, 2));
      expect(first).toMatchObject({ has_more: true, first_id: ids[0], last_id: ids[1] });

      const second = await page(`limit=2&after_id=${first.last_id}`);
      expect(second).toMatchObject({ has_more: true, first_id: ids[2], last_id: ids[3] });
      const third = await page(`limit=2&after_id=${second.last_id}`);
      expect(third).toMatchObject({ has_more: false, first_id: ids[4], last_id: ids[4] });

      const back = await page(`limit=2&before_id=${second.first_id}`);
      expect(back).toMatchObject({ has_more: false, first_id: ids[0], last_id: ids[1] });
      const backOne = await page(`limit=1&before_id=${third.first_id}`);
      expect(backOne).toMatchObject({ has_more: true, first_id: ids[3], last_id: ids[3] });

      expect((await page('')).data).toHaveLength(5);
      expect(await page(`after_id=${ids[4]}`)).toEqual({ data: [], has_more: false, first_id: null, last_id: null });
      expect((await stub.call('GET', '/v1/messages/batches?limit=0')).status).toBe(400);
    });
  });
});

describe('stub Message Batches: refusals', () => {
  it.each([
    ['no x-api-key', { 'anthropic-version': '2023-06-01' }, 401, 'authentication_error'],
    ['a wrong x-api-key', { 'anthropic-version': '2023-06-01', 'x-api-key': 'other' }, 401, 'authentication_error'],
    ['no anthropic-version', { 'x-api-key': 'sk-ant' }, 400, 'invalid_request_error'],
  ])('refuses a call with %s', async (_, headers, status, type) => {
    await withStub({}, async (stub) => {
      const answer = await stub.call('GET', '/v1/messages/batches', undefined, headers);
      expect(answer.status).toBe(status);
      expect(answer.body).toEqual({ type: 'error', error: { type, message: expect.any(String) } });
    });
  });

  it('asks no key when the stub has none', async () => {
    await withStub({ apiKey: undefined }, async (stub) => {
      expect((await stub.call('GET', '/v1/messages/batches', undefined, { 'anthropic-version': 'v' })).status).toBe(
        200,
      );
    });
  });

  it.each([
    ['a body that is not JSON', '{"requests":', 'JSON'],
    ['no requests', { requests: [] }, 'requests'],
    ['a custom_id with a space', { requests: [request('a b')] }, 'requests.0.custom_id'],
    ['a custom_id of 65 characters', { requests: [request('a'.repeat(65))] }, 'requests.0.custom_id'],
    ['a duplicate custom_id', { requests: [request('a'), request('a')] }, 'requests.1.custom_id'],
    ['no max_tokens', { requests: [request('a', 'x', { max_tokens: undefined })] }, 'requests.0.params.max_tokens'],
    ['max_tokens 0', { requests: [request('a', 'x', { max_tokens: 0 })] }, 'requests.0.params.max_tokens'],
    ['no model', { requests: [request('a', 'x', { model: undefined })] }, 'requests.0.params.model'],
    ['messages not an array', { requests: [request('a', 'x', { messages: 'hi' })] }, 'requests.0.params.messages'],
    ['stream: true', { requests: [request('a', 'x', { stream: true })] }, 'requests.0.params.stream'],
    ['no params', { requests: [{ custom_id: 'a' }] }, 'requests.0.params'],
  ])('refuses a batch with %s', async (_, body, field) => {
    await withStub({}, async (stub) => {
      const answer = await stub.call('POST', '/v1/messages/batches', body);
      expect(answer.status).toBe(400);
      expect(answer.body.error.type).toBe('invalid_request_error');
      expect(answer.body.error.message).toContain(field);
      expect(stub.stats().messageBatches.created).toBe(0);
    });
  });

  it('answers 404 not_found_error for an unknown batch or route', async () => {
    await withStub({}, async (stub) => {
      for (const [method, path] of [
        ['GET', '/v1/messages/batches/msgbatch_nope'],
        ['POST', '/v1/messages/batches/msgbatch_nope/cancel'],
        ['PUT', '/v1/messages/batches'],
      ]) {
        const answer = await stub.call(method, path);
        expect(answer.status).toBe(404);
        expect(answer.body.error.type).toBe('not_found_error');
      }
    });
  });
});

describe('stub Message Batches: outage', () => {
  it('answers every Message Batches call with the outage status and retry-after until it is over', async () => {
    await withStub({ messageBatchMs: 0 }, async (stub) => {
      const { id } = await create(stub, [request('a')]);
      const started = await stub.call('POST', '/_stub/outage', { status: 503, ms: 400 }, {});
      expect(started.body).toMatchObject({ ok: true, status: 503 });

      const refused = await stub.call('GET', `/v1/messages/batches/${id}`);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.body).toEqual({ type: 'error', error: { type: 'api_error', message: expect.any(String) } });
      expect((await stub.call('POST', '/v1/messages/batches', { requests: [request('b')] })).status).toBe(503);

      const chat = await stub.call(
        'POST',
        '/v1/chat/completions',
        { model: 'm', messages: [] },
        { authorization: 'Bearer sk-ant' },
      );
      expect(chat.status).toBe(200);

      await sleep(450);
      expect((await stub.call('GET', `/v1/messages/batches/${id}`)).status).toBe(200);
      expect(stub.stats().messageBatches).toMatchObject({ created: 1, refused: 2, calls: 4 });
    });
  });

  it('ends an outage early with ms 0, and refuses a malformed one', async () => {
    await withStub({}, async (stub) => {
      await stub.call('POST', '/_stub/outage', { status: 529, ms: 60_000 }, {});
      expect((await stub.call('GET', '/v1/messages/batches')).body.error.type).toBe('overloaded_error');
      await stub.call('POST', '/_stub/outage', { status: 529, ms: 0 }, {});
      expect((await stub.call('GET', '/v1/messages/batches')).status).toBe(200);
      expect((await stub.call('POST', '/_stub/outage', { status: 200, ms: 10 }, {})).status).toBe(400);
      expect((await stub.call('POST', '/_stub/outage', { status: 503 }, {})).status).toBe(400);
    });
  });

  it('clears the outage and the counters on /_stub/reset', async () => {
    await withStub({}, async (stub) => {
      await stub.call('POST', '/_stub/outage', { status: 503, ms: 60_000 }, {});
      expect((await stub.call('GET', '/v1/messages/batches')).status).toBe(503);
      await stub.call('POST', '/_stub/reset', undefined, {});
      expect(stub.stats().messageBatches).toEqual({
        calls: 0,
        created: 0,
        cancelled: 0,
        deleted: 0,
        processed: 0,
        refused: 0,
      });
      expect((await stub.call('GET', '/v1/messages/batches')).status).toBe(200);
    });
  });
});
