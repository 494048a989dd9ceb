import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvelope, newTenant, raw, type Tenant } from '../support/clients';
import { batchLines, createBatch, type Endpoint, numbered, type RequestSpec, waitForBatch } from '../support/batches';
import { type ApiHandle } from '../support/processes';
import { startStack, type Stack } from '../support/stack';
import { waitUntil } from '../support/poll';

const CHAT: Endpoint = '/v1/chat/completions';
/** Every completion window is this short here, so one batch can run out of it. */
const WINDOW_SECONDS = 8;

interface Polled {
  lines: string[];
  /** Lines received while the batch was still running (before any terminal status). */
  whileRunning: number;
  polls: number;
}

/**
 * Partial results (`GET /v1/batches/{id}/results`) end to end: the api and a worker as their own processes, the
 * stub upstream answering slowly, raw HTTP as client (the SDK has no such call).
 */
describe('Batch results while a batch runs', () => {
  let stack: Stack;
  let api: ApiHandle;
  let tenant: Tenant;

  beforeAll(async () => {
    stack = await startStack({
      storage: true,
      api: { BATCH_WINDOW_OVERRIDE_SECONDS: String(WINDOW_SECONDS) },
      worker: { WORKER_CONCURRENCY: '3', BATCH_CHUNK_SIZE: '5' },
    });
    ({ api, tenant } = stack);
  });
  afterAll(() => stack?.stop());

  /** One call: the lines as sent, and the cursor headers. */
  async function fetchResults(batchId: string, query: string, key = tenant.key) {
    const response = await fetch(`${api.url}/v1/batches/${batchId}/results${query}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const text = await response.text();
    return {
      status: response.status,
      contentType: response.headers.get('content-type'),
      next: response.headers.get('x-next-cursor'),
      batchStatus: response.headers.get('x-batch-status'),
      complete: response.headers.get('x-results-complete') === 'true',
      lines: text.split('\n').filter(Boolean),
      text,
    };
  }

  /** Polls every 100 ms, following x-next-cursor, until the batch has ended and nothing is left; `onLines` may act. */
  async function pollUntilComplete(
    batchId: string,
    limit: number,
    onLines: (received: number) => Promise<void> = async () => undefined,
  ): Promise<Polled> {
    const polled: Polled = { lines: [], whileRunning: 0, polls: 0 };
    let cursor = '0';
    const nextPage = async () => {
      const page = await fetchResults(batchId, `?after=${cursor}&limit=${limit}`);
      expect(page.status).toBe(200);
      expect(page.contentType).toMatch(/^application\/x-ndjson/);
      expect(page.lines.length).toBeLessThanOrEqual(limit);
      expect(page.text === '' || page.text.endsWith('\n')).toBe(true);
      polled.polls++;
      polled.lines.push(...page.lines);
      if (['validating', 'in_progress', 'finalizing', 'cancelling'].includes(page.batchStatus ?? '')) {
        polled.whileRunning += page.lines.length;
      }
      cursor = page.next ?? '';
      expect(cursor).toMatch(/^\d+$/);
      if (!page.complete) {
        await onLines(polled.lines.length);
      }
      return page.complete;
    };
    await waitUntil(nextPage, {
      what: () => `the results of ${batchId} to be complete (${polled.lines.length} lines)`,
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    return polled;
  }

  async function fileLines(fileId: string | null | undefined): Promise<string[]> {
    return fileId ? (await (await tenant.client.files.content(fileId)).text()).split('\n').filter(Boolean) : [];
  }

  /** Received lines equal the output and error files' lines together, as multisets, each custom_id once. */
  async function expectSameAsFiles(batch: OpenAI.Batches.Batch, received: string[], total: number) {
    const files = [...(await fileLines(batch.output_file_id)), ...(await fileLines(batch.error_file_id))];
    expect(files).toHaveLength(total);
    expect([...received].sort()).toEqual([...files].sort());
    const ids = received.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id);
    expect(new Set(ids).size).toBe(total);
  }

  it('hands every result line over exactly once while a batch runs and after it completes', async () => {
    const requests: RequestSpec[] = numbered(30, (i) =>
      i % 7 === 3 ? `r ${i} [stub:fail=400] [stub:delay=100]` : `r ${i} [stub:delay=100]`,
    );
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-m', requests));
    // Past 8 lines the client waits for the end, so that it always crosses it mid-stream (journal, then files).
    const polled = await pollUntilComplete(created.id, 4, async (received) => {
      if (received >= 8) {
        await waitForBatch(tenant.client, created.id);
      }
    });
    const batch = await waitForBatch(tenant.client, created.id);
    expect(batch.status).toBe('completed');
    expect(polled.whileRunning).toBeGreaterThan(0);
    expect(polled.whileRunning).toBeLessThan(30);
    await expectSameAsFiles(batch, polled.lines, 30);
    const succeeded = polled.lines.filter((line) => JSON.parse(line).response?.status_code === 200);
    expect(succeeded.length).toBe(batch.request_counts?.completed);
    expect(batch.request_counts?.failed).toBe(4);

    // Read again from the start after the end: the same lines, from the files, in pages.
    const again = await pollUntilComplete(created.id, 7);
    expect(again.whileRunning).toBe(0);
    expect([...again.lines].sort()).toEqual([...polled.lines].sort());
    const done = await fetchResults(created.id, `?after=${(await fetchResults(created.id, '?limit=10000')).next}`);
    expect(done).toMatchObject({ status: 200, lines: [], complete: true, batchStatus: 'completed' });
  });

  it('hands over the lines of a cancelled batch, the not executed ones included', async () => {
    const created = await createBatch(
      tenant.client,
      CHAT,
      batchLines(
        CHAT,
        'stub-m',
        numbered(60, (i) => `c ${i} [stub:delay=150]`),
      ),
    );
    let cancelled = false;
    const polled = await pollUntilComplete(created.id, 5, async (received) => {
      if (!cancelled && received >= 6) {
        cancelled = true;
        await tenant.client.batches.cancel(created.id);
      }
    });
    const batch = await waitForBatch(tenant.client, created.id);
    expect(batch.status).toBe('cancelled');
    await expectSameAsFiles(batch, polled.lines, 60);
    expect(polled.lines.filter((line) => line.includes('"code":"batch_cancelled"')).length).toBeGreaterThan(0);
  });

  it('hands over the lines of an expired batch, the not executed ones included', async () => {
    const created = await createBatch(
      tenant.client,
      CHAT,
      batchLines(
        CHAT,
        'stub-m',
        numbered(150, (i) => `x ${i} [stub:delay=300]`),
      ),
    );
    const polled = await pollUntilComplete(created.id, 50);
    const batch = await waitForBatch(tenant.client, created.id);
    expect(batch.status).toBe('expired');
    expect(polled.whileRunning).toBeGreaterThan(0);
    await expectSameAsFiles(batch, polled.lines, 150);
    expect(polled.lines.filter((line) => line.includes('"code":"batch_expired"')).length).toBeGreaterThan(0);
  });

  it("answers 404 for another workspace's batch and 400 naming `after` for a bad cursor", async () => {
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-m', numbered(2)));
    const other = await newTenant(api.url);
    expectEnvelope(await raw(api.url, `/v1/batches/${created.id}/results`, { key: other.key }), 404, {
      param: 'id',
    });
    for (const after of ['abc', '-1', '1.5', '99999999999', '2147483648']) {
      expectEnvelope(await raw(api.url, `/v1/batches/${created.id}/results?after=${after}`, { key: tenant.key }), 400, {
        param: 'after',
      });
    }
    expectEnvelope(await raw(api.url, `/v1/batches/${created.id}/results?limit=0`, { key: tenant.key }), 400, {
      param: 'limit',
    });
    await waitForBatch(tenant.client, created.id);
  });
});
