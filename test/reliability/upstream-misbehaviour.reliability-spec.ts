import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replyOf } from '../../apps/stub-upstream/src/stub-upstream';
import { type Tenant } from '../support/clients';
import {
  allResults,
  batchLines,
  bodyFor,
  createBatch,
  type RequestSpec,
  type ResultLine,
  type StubHandle,
  waitForBatch,
} from '../support/batches';
import { startStack, type Stack } from '../support/stack';

const CHAT = '/v1/chat/completions' as const;
const ATTEMPTS = 3;
const TIMEOUT_MS = 1000;
const RETRY_MAX_MS = 500;
/** What a customer's result line must never show: addresses, socket errors, stack frames, an upstream's page. */
const INTERNALS =
  /127\.0\.0\.1|localhost|10\.0\.0\.7|ECONN|EPIPE|ETIMEDOUT|UND_ERR|SocketError|node:internal|\bat \S+ \(|<html/i;

/**
 * Batches whose upstream misbehaves: it hangs, answers garbage, cuts bodies short, hides errors in a
 * 200, answers several MB per line, or sends absurd retry-after headers. Every batch still completes,
 * every request is reported exactly once with a clear outcome, and nothing internal leaks into the files.
 */
describe('Upstream misbehaviour', () => {
  let stack: Stack;
  let stub: StubHandle;
  let tenant: Tenant;

  beforeAll(async () => {
    stack = await startStack({
      worker: {
        UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
        UPSTREAM_MAX_ATTEMPTS: String(ATTEMPTS),
        UPSTREAM_RETRY_MAX_MS: String(RETRY_MAX_MS),
        BATCH_CHUNK_SIZE: '4',
        WORKER_CONCURRENCY: '8',
      },
    });
    ({ stub, tenant } = stack);
  });
  afterAll(() => stack?.stop());

  /** How often the stub received the request of this line (the worker sends the body as the line holds it). */
  const receipts = (model: string, spec: RequestSpec) =>
    stub.stats().byBody[
      createHash('sha256')
        .update(JSON.stringify(bodyFor(CHAT, model, spec.text)))
        .digest('hex')
        .slice(0, 16)
    ] ?? 0;

  /**
   * Runs `specs` as one batch to its end and checks what holds whatever the upstream did: completed,
   * each custom_id once across both files, counts equal to the files' lines, successes in the output
   * file, failures with a clear error in the error file, nothing internal anywhere.
   */
  async function run(model: string, specs: RequestSpec[], timeoutMs = 30_000) {
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, model, specs));
    const batch = await waitForBatch(tenant.client, created.id, undefined, timeoutMs);
    expect(batch.status, JSON.stringify(batch)).toBe('completed');
    const results = await allResults(tenant.client, batch);
    expect(results.unique).toBe(true);
    expect([...results.ids].sort()).toEqual(specs.map((s) => s.customId).sort());
    expect(batch.request_counts).toEqual({
      total: specs.length,
      completed: results.output.length,
      failed: results.errors.length,
    });
    for (const line of results.output) {
      expect(line.id).toMatch(/^batch_req_/);
      expect(line.error).toBeNull();
      expect(line.response?.status_code).toBe(200);
      expect(line.response?.body).toMatchObject({ object: 'chat.completion' });
      expect(line.response?.body).not.toHaveProperty('error');
    }
    for (const line of results.errors) {
      expectClearFailure(line);
    }
    for (const line of [...results.output, ...results.errors]) {
      expect(JSON.stringify(line)).not.toMatch(INTERNALS);
    }
    const byId = (lines: ResultLine[]) => new Map(lines.map((line) => [line.custom_id, line]));
    return { batch, output: byId(results.output), errors: byId(results.errors) };
  }

  it('hangs: a hang answered on retry succeeds; one that never answers fails as request_timeout, retried no more than allowed', async () => {
    const model = 'stub-hang';
    const specs = [
      { customId: 'ok-1', text: 'fine' },
      { customId: 'ok-2', text: 'also fine' },
      { customId: 'hang-once', text: 'slow start [stub:hang=1]' },
      { customId: 'hang-always', text: 'never answers [stub:hang=99]' },
    ];
    const { output, errors } = await run(model, specs);
    expect([...output.keys()].sort()).toEqual(['hang-once', 'ok-1', 'ok-2']);
    expect(errors.get('hang-always')).toMatchObject({
      response: null,
      error: { code: 'request_timeout', message: expect.stringContaining(`${TIMEOUT_MS} ms`) },
    });
    expect(receipts(model, specs[2])).toBe(2);
    expect(receipts(model, specs[3])).toBe(ATTEMPTS);
  });

  it('a 2xx body that is not JSON fails as invalid_upstream_response (never a success); a 5xx one keeps its status, not its page', async () => {
    const model = 'stub-garbage';
    const specs = [
      { customId: 'ok', text: 'fine' },
      { customId: 'html-200', text: 'html [stub:garbage=200]' },
      { customId: 'html-502', text: 'html [stub:garbage=502]' },
    ];
    const { output, errors } = await run(model, specs);
    expect([...output.keys()]).toEqual(['ok']);
    expect(errors.get('html-200')).toMatchObject({
      response: null,
      error: { code: 'invalid_upstream_response', message: expect.stringMatching(/200.*not JSON/) },
    });
    expect(errors.get('html-502')).toMatchObject({
      response: { status_code: 502, body: { error: { message: expect.stringMatching(/502.*not JSON/) } } },
      error: null,
    });
    // Both are worth another attempt (a proxy's error page), within the limit.
    expect(receipts(model, specs[1])).toBe(ATTEMPTS);
    expect(receipts(model, specs[2])).toBe(ATTEMPTS);
  });

  it('a body cut short (connection closed before Content-Length) is retried, never taken as an answer; if it persists the line fails without a response', async () => {
    const model = 'stub-truncate';
    const specs = [
      { customId: 'ok', text: 'fine' },
      { customId: 'cut-once', text: 'cut once [stub:truncate=1]' },
      { customId: 'cut-always', text: 'cut always [stub:truncate=99]' },
    ];
    const { output, errors } = await run(model, specs);
    expect([...output.keys()].sort()).toEqual(['cut-once', 'ok']);
    // The half body names the model 'cut-short': the full answer of the retry must be the one kept.
    expect(output.get('cut-once')?.response?.body.model).toBe(model);
    // A transport failure: no response to keep (half a body is not one), the socket error's detail kept out.
    expect(errors.get('cut-always')).toMatchObject({ response: null, error: { code: 'upstream_unreachable' } });
    expect(receipts(model, specs[1])).toBe(2);
    expect(receipts(model, specs[2])).toBe(ATTEMPTS);
  });

  it('a 200 whose body is an OpenAI error object is a failed request: in the error file with its status and body, not counted or billed as a success', async () => {
    const model = 'stub-errorbody';
    const specs = [
      { customId: 'ok', text: 'fine' },
      { customId: 'error-in-200', text: 'hidden error [stub:errorbody=1]' },
    ];
    const { batch, output, errors } = await run(model, specs);
    expect([...output.keys()]).toEqual(['ok']);
    expect(errors.get('error-in-200')).toMatchObject({
      response: {
        status_code: 200,
        request_id: expect.any(String),
        body: { error: { code: 'stub_injected', message: expect.any(String) } },
      },
      error: null,
    });
    // Only the real answer is billed.
    const okUsage = output.get('ok')?.response?.body.usage;
    expect(batch.usage).toMatchObject({
      input_tokens: okUsage.prompt_tokens,
      output_tokens: okUsage.completion_tokens,
    });
  });

  it('answers of several MB per line are written whole, byte for byte, multi-byte and escaped characters included', async () => {
    const model = 'stub-bytes';
    const size = 3_000_000;
    const specs: RequestSpec[] = [
      ...Array.from({ length: 4 }, (_, i) => ({ customId: `big-${i}`, text: `big ${i} [stub:bytes=${size}]` })),
      { customId: 'small', text: 'small' },
    ];
    const { batch, output } = await run(model, specs, 60_000);
    expect(output.size).toBe(specs.length);
    for (const spec of specs) {
      const prompt = JSON.stringify([{ role: 'user', content: spec.text }]);
      const expected = replyOf(model, prompt, spec.text.includes('[stub:bytes') ? size : 0);
      const content = output.get(spec.customId)?.response?.body.choices[0].message.content as string;
      expect(content.length).toBe(expected.length);
      expect(content === expected, `${spec.customId} differs from the upstream's answer`).toBe(true);
    }
    // The file object tells the size of what it serves.
    const bytes = Buffer.byteLength(await (await tenant.client.files.content(batch.output_file_id!)).text());
    expect(bytes).toBeGreaterThan(4 * size);
    expect((await tenant.client.files.retrieve(batch.output_file_id!)).bytes).toBe(bytes);
  });

  it('an upstream that answers 429 more often than UPSTREAM_MAX_ATTEMPTS only delays the line; 500s as often still fail it', async () => {
    const model = 'stub-busy';
    const busyFor = ATTEMPTS * 2;
    const specs = [
      { customId: 'busy', text: `busy [stub:ratelimit=${busyFor}]` },
      { customId: 'broken', text: `broken [stub:flaky=${busyFor}]` },
    ];
    const { output, errors } = await run(model, specs);
    expect([...output.keys()]).toEqual(['busy']);
    expect(receipts(model, specs[0])).toBe(busyFor + 1);
    expect(errors.get('broken')?.response?.status_code).toBe(500);
    expect(receipts(model, specs[1])).toBe(ATTEMPTS);
  });

  it('retry-after in the past (negative seconds, an old HTTP date) means retry now: every line succeeds on its second attempt', async () => {
    const model = 'stub-retry-past';
    const specs = [
      { customId: 'ok', text: 'fine' },
      { customId: 'negative', text: 'negative [stub:retryafter=-5]' },
      { customId: 'old-date', text: 'old date [stub:retryafter=past]' },
    ];
    const { output, errors } = await run(model, specs);
    expect(errors.size).toBe(0);
    expect(output.size).toBe(3);
    expect(receipts(model, specs[1])).toBe(2);
    expect(receipts(model, specs[2])).toBe(2);
  });

  it('retry-after absurdly far in the future (999999999 s, the year 9999) is capped by UPSTREAM_RETRY_MAX_MS: the batch and the next one do not stall', async () => {
    const model = 'stub-retry-future';
    const specs = [
      ...Array.from({ length: 4 }, (_, i) => ({ customId: `ok-${i}`, text: `fine ${i}` })),
      { customId: 'huge-seconds', text: 'huge [stub:retryafter=999999999]' },
      { customId: 'far-date', text: 'far [stub:retryafter=future]' },
    ];
    const { output } = await run(model, specs);
    expect(output.size).toBe(specs.length);
    expect(receipts(model, specs[4])).toBe(2);
    expect(receipts(model, specs[5])).toBe(2);
    // The pause a 429 puts on the upstream is shared by every worker: it must not outlive the cap either.
    const next = await run(model, [{ customId: 'after', text: 'the next batch' }]);
    expect(next.output.size).toBe(1);
  });
});

/** An error-file line says what went wrong: an HTTP answer (status and body) or a transport error (code and message). */
function expectClearFailure(line: ResultLine): void {
  expect(line.id).toMatch(/^batch_req_/);
  if (line.response === null) {
    expect(line.error).toEqual({ code: expect.stringMatching(/^[a-z_]+$/), message: expect.any(String) });
    expect(line.error?.message.length).toBeGreaterThan(10);
  } else {
    expect(line.error).toBeNull();
    expect(line.response.status_code).toEqual(expect.any(Number));
    expect(line.response.request_id).toEqual(expect.any(String));
    expect(line.response.body?.error?.message).toEqual(expect.any(String));
  }
}
