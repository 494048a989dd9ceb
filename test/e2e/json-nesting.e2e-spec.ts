import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchLines, numbered, uploadBatchInput } from '../support/batches';
import { expectEnvelope, raw } from '../support/clients';
import { ADMIN_KEY } from '../support/env';
import { startStack, type Stack } from '../support/stack';

/** `depth` arrays, each inside the last: 30,000 of them are 60 KB, under the body limit. */
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/**
 * JSON nests at most 64 arrays and objects deep, in a request body and in a batch input line: deeper is refused
 * with a 400 naming the limit, before anything walks it (serialising 30,000 levels overflows the stack: a 500).
 */
describe('JSON nesting limit', () => {
  let stack: Stack;
  let inputFileId: string;

  beforeAll(async () => {
    stack = await startStack({ storage: true });
    inputFileId = (await uploadBatchInput(stack.tenant.client, batchLines('/v1/chat/completions', 'm', numbered(1))))
      .id;
  });
  afterAll(() => stack?.stop());

  const postJsonText = (path: string, key: string, text: string, headers: Record<string, string> = {}) =>
    raw(stack.api.url, path, {
      method: 'POST',
      key,
      headers: { 'content-type': 'application/json', ...headers },
      body: text,
    });
  const deepBatch = () =>
    `{"input_file_id":"${inputFileId}","endpoint":"/v1/chat/completions","completion_window":"24h",` +
    `"metadata":{"deep":${nested(30_000)}}}`;

  it('answers 400 naming the limit to a body 30,000 arrays deep on POST /v1/batches, with or without Idempotency-Key', async () => {
    for (const headers of [{}, { 'idempotency-key': 'deep-metadata' }] as Record<string, string>[]) {
      const answer = await postJsonText('/v1/batches', stack.tenant.key, deepBatch(), headers);
      expectEnvelope(answer, 400, { type: 'invalid_request_error', message: /deeper than 64 levels/ });
    }
    // The api is still well: a batch without the deep metadata is created.
    const shallow = await postJsonText('/v1/batches', stack.tenant.key, deepBatch().replace(nested(30_000), '"x"'));
    expect(shallow.status).toBe(200);
  });

  it('answers 400 naming the limit on the admin API', async () => {
    const answer = await postJsonText('/admin/workspaces', ADMIN_KEY, `{"name":"deep","extra":${nested(30_000)}}`);
    expectEnvelope(answer, 400, { type: 'invalid_request_error', message: /deeper than 64 levels/ });
  });

  it('refuses a batch input line nested 100 deep at upload, naming the line and the limit; 64 deep passes', async () => {
    const line = (id: string, depth: number) =>
      // The line's object and its body are two levels: `x` adds the rest.
      `{"custom_id":"${id}","method":"POST","url":"/v1/chat/completions","body":{"model":"m","x":${nested(depth - 2)}}}\n`;
    const upload = (content: string) => {
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', new Blob([content]), 'deep.jsonl');
      return raw(stack.api.url, '/v1/files', { method: 'POST', key: stack.tenant.key, body: form });
    };

    const refused = await upload(`${line('a', 3)}${line('b', 100)}`);
    expectEnvelope(refused, 400, { param: 'file', message: /Line 2 nests .*deeper than 64 levels/ });

    const accepted = await upload(`${line('a', 3)}${line('b', 64)}`);
    expect(accepted.status).toBe(200);
  });
});
