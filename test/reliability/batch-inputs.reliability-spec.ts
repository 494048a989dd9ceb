import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvelope, type Tenant } from '../support/clients';
import { allResults, batchLines, numbered, type StubHandle, uploadBatchInput, waitForBatch } from '../support/batches';
import { type ApiHandle } from '../support/processes';
import { multipart, postMultipart, StoredDataGuard } from '../support/reliability';
import { startStack, type Stack } from '../support/stack';

const CHAT = '/v1/chat/completions';
const request = (customId: unknown, extra: Record<string, unknown> = {}) => ({
  custom_id: customId,
  method: 'POST',
  url: CHAT,
  body: { model: 'm-a', messages: [{ role: 'user', content: `hello ${String(customId)}` }] },
  ...extra,
});
const jsonl = (...lines: unknown[]) =>
  lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n');

/**
 * Batch inputs that break one rule each: the batch fails validation with that rule's code, line and
 * param, nothing runs upstream, and the messages stay short whatever the user sent.
 */
describe('Batch inputs that break the rules', () => {
  let stack: Stack;
  let stub: StubHandle;
  let api: ApiHandle;
  let tenant: Tenant;
  let guard: StoredDataGuard;

  beforeAll(async () => {
    stack = await startStack({ worker: {} });
    ({ stub, api, tenant } = stack);
    guard = await StoredDataGuard.create(api, tenant);
  });
  afterAll(() => stack?.stop());

  async function validate(content: string) {
    const input = await uploadBatchInput(tenant.client, content);
    const created = await tenant.client.batches.create({
      input_file_id: input.id,
      endpoint: CHAT,
      completion_window: '24h',
    });
    return waitForBatch(tenant.client, created.id);
  }

  const huge = 'h'.repeat(1024 * 1024);

  it.each([
    ['method missing', jsonl(request('a', { method: undefined })), ['missing_required_parameter', 1, 'method']],
    ['a wrong method', jsonl(request('a'), request('b', { method: 'GET' })), ['invalid_request', 2, 'method']],
    ['url missing', jsonl(request('a', { url: undefined })), ['missing_required_parameter', 1, 'url']],
    ['another endpoint', jsonl(request('a', { url: '/v1/embeddings' })), ['url_mismatch', 1, 'url']],
    ['body missing', jsonl(request('a', { body: undefined })), ['missing_required_parameter', 1, 'body']],
    ['a body that is a string', jsonl(request('a', { body: 'hello' })), ['invalid_request', 1, 'body']],
    ['a body that is an array', jsonl(request('a', { body: [1, 2] })), ['invalid_request', 1, 'body']],
    [
      'body.model missing',
      jsonl(request('a', { body: { messages: [] } })),
      ['missing_required_parameter', 1, 'body.model'],
    ],
    ['an empty model', jsonl(request('a', { body: { model: '' } })), ['missing_required_parameter', 1, 'body.model']],
    ['custom_id missing', jsonl(request(undefined)), ['missing_required_parameter', 1, 'custom_id']],
    ['custom_id null', jsonl(request(null)), ['missing_required_parameter', 1, 'custom_id']],
    ['custom_id a number', jsonl(request(7)), ['invalid_request', 1, 'custom_id']],
    ['custom_id empty', jsonl(request('')), ['invalid_request', 1, 'custom_id']],
    [
      'a duplicated custom_id',
      jsonl(request('a'), request('b'), request('a')),
      ['duplicate_custom_id', 3, 'custom_id'],
    ],
    [
      'mixed models',
      jsonl(request('a'), request('b', { body: { model: 'm-b', messages: [] } })),
      ['model_mismatch', 2, 'body.model'],
    ],
    [
      'stream: true',
      jsonl(request('a', { body: { model: 'm-a', messages: [], stream: true } })),
      ['invalid_request', 1, 'body.stream'],
    ],
  ])('%s: failed, with its code, line and param', async (_what, content, [code, line, param]) => {
    const before = stub.stats().requests;
    const batch = await validate(content);
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data?.map((e) => [e.code, e.line, e.param])).toEqual([[code, line, param]]);
    expect(batch).toMatchObject({ output_file_id: null, error_file_id: null, in_progress_at: null });
    expect(stub.stats().requests).toBe(before);
  });

  it('user values quoted into messages are cut short: a 1 MB url, model and custom_id cost bytes, not megabytes', async () => {
    const batch = await validate(
      jsonl(
        request('a', { url: `/v1/${huge}` }),
        request('b'),
        request('c', { body: { model: huge, messages: [] } }),
        request(huge),
        request(huge),
      ),
    );
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data?.map((e) => e.code)).toEqual(['url_mismatch', 'model_mismatch', 'duplicate_custom_id']);
    expect(batch.errors?.data?.every((e) => (e.message ?? '').length < 300)).toBe(true);
    expect(JSON.stringify(await tenant.client.batches.retrieve(batch.id)).length).toBeLessThan(4000);
  });

  it('a file of many bad lines reports at most 100 problems, in line order', async () => {
    const batch = await validate(jsonl(...Array.from({ length: 250 }, (_, i) => request(`x-${i}`, { method: 'PUT' }))));
    expect(batch.status).toBe('failed');
    const lines = batch.errors?.data?.map((e) => e.line) ?? [];
    expect(lines).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('50,001 requests: refused at upload, naming the line, nothing stored', async () => {
    const before = guard.snapshot();
    const lines = batchLines(
      CHAT,
      'm',
      numbered(50_001, () => 'x'),
    );
    expectEnvelope(
      await postMultipart(
        api,
        tenant.key,
        multipart([
          { name: 'purpose', content: 'batch' },
          { name: 'file', filename: 'many.jsonl', content: lines },
        ]),
      ),
      400,
      { param: 'file', message: /Line 50001: a batch can hold at most 50000 requests/ },
    );
    await guard.check(before);
  });

  it('a 10,000-character custom_id is kept whole through the run', async () => {
    const long = `id-${'l'.repeat(10_000)}`;
    const batch = await validate(jsonl(request(long), request('short')));
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 2, completed: 2, failed: 0 } });
    const { output, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    expect(output.map((line) => line.custom_id).sort()).toEqual([long, 'short']);
  });

  it.each([
    ['CRLF line endings', (lines: string) => lines.replaceAll('\n', '\r\n')],
    ['a byte order mark', (lines: string) => `\uFEFF${lines}`],
    ['blank lines between and after requests', (lines: string) => lines.replaceAll('\n', '\n\n  \n').concat('\n\n')],
  ])('a file with %s runs every request once', async (_what, shape) => {
    const batch = await validate(shape(batchLines(CHAT, 'stub-shapes', numbered(4))));
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 4, completed: 4, failed: 0 } });
    const { output, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    expect(output.map((line) => line.custom_id)).toEqual(['req-0', 'req-1', 'req-2', 'req-3']);
  });
});
