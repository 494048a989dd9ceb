import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushTestRedis, newTenant, type Tenant } from '../support/clients';
import {
  allResults,
  batchLines,
  createBatch,
  numbered,
  resent,
  startStub,
  type StubHandle,
  waitForBatch,
} from '../support/batches';
import { type ApiHandle, startApi, startWorker } from '../support/processes';

const CHAT = '/v1/chat/completions' as const;
const LINES = 400;
const WORKER = {
  BATCH_CHUNK_SIZE: '40',
  WORKER_CONCURRENCY: '8',
  WORKER_CHUNK_JOBS: '2',
  WORKER_LOCK_DURATION_MS: '3000',
  JOURNAL_GROUP_MAX_LINES: '10',
};
/**
 * What a kill can cost: the requests in flight, plus per running chunk the group being recorded and
 * the answers gathered since (the journal holds at most two groups before the chunk stops sending).
 */
const MAX_RESENT =
  Number(WORKER.WORKER_CONCURRENCY) + Number(WORKER.WORKER_CHUNK_JOBS) * 3 * Number(WORKER.JOURNAL_GROUP_MAX_LINES);

/** The worker is killed or stopped in the middle of a batch; the batch still ends with every line exactly once. */
describe('Crash safety', () => {
  let stub: StubHandle;
  let api: ApiHandle;
  let tenant: Tenant;

  beforeAll(async () => {
    await flushTestRedis();
    stub = await startStub({ latencyMs: 25 });
    api = await startApi();
    tenant = await newTenant(api.url);
  });
  afterAll(async () => {
    await api?.stop();
    await stub?.close();
  });

  it('SIGKILL mid-batch, then restart: every custom_id once, counts match the files, answered lines not re-sent', async () => {
    stub.reset();
    const started = Date.now();
    const first = await startWorker(stub.url, api.storageDir, WORKER);
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-crash', numbered(LINES)));
    const before = await waitForBatch(tenant.client, created.id, (b) => (b.request_counts?.completed ?? 0) >= 120);
    await first.stop('SIGKILL');
    const killedAt = await tenant.client.batches.retrieve(created.id);
    expect(killedAt.status).toBe('in_progress');

    const second = await startWorker(stub.url, api.storageDir, WORKER);
    try {
      const batch = await waitForBatch(tenant.client, created.id, undefined, 60_000);
      expect(batch.status).toBe('completed');
      const { output, errors, ids, unique } = await allResults(tenant.client, batch);
      expect(unique).toBe(true);
      expect(ids.sort()).toEqual(
        numbered(LINES)
          .map((r) => r.customId)
          .sort(),
      );
      expect(errors).toEqual([]);
      expect(batch.request_counts).toEqual({ total: LINES, completed: output.length, failed: 0 });
      const stats = stub.stats();
      const resends = resent(stats);
      // Answers already recorded are never re-sent: only those in flight or not yet recorded at the kill.
      expect(resends).toBeLessThanOrEqual(MAX_RESENT);
      expect(stats.requests).toBe(LINES + resends);
      console.info(
        `crash test: killed at ${before.request_counts?.completed}/${LINES} answered, batch took ${Date.now() - started} ms, ${resends} line(s) re-sent`,
      );
    } finally {
      await second.stop();
    }
  });

  it('SIGTERM mid-batch drains gracefully: in-flight requests finish, the chunk is handed back, nothing is re-sent', async () => {
    stub.reset();
    const first = await startWorker(stub.url, api.storageDir, WORKER);
    const created = await createBatch(
      tenant.client,
      CHAT,
      batchLines(
        CHAT,
        'stub-drain',
        numbered(LINES, (i) => `drain ${i}`),
      ),
    );
    await waitForBatch(tenant.client, created.id, (b) => (b.request_counts?.completed ?? 0) >= 80);
    const stopping = Date.now();
    await first.stop('SIGTERM');
    expect(await first.waitForExit()).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(10_000);
    const afterStop = await tenant.client.batches.retrieve(created.id);
    expect(afterStop.status).toBe('in_progress');
    expect(afterStop.request_counts?.completed).toBeLessThan(LINES);

    const second = await startWorker(stub.url, api.storageDir, WORKER);
    try {
      const batch = await waitForBatch(tenant.client, created.id, undefined, 60_000);
      expect(batch.status).toBe('completed');
      const { ids, unique } = await allResults(tenant.client, batch);
      expect(unique).toBe(true);
      expect(ids).toHaveLength(LINES);
      expect(resent(stub.stats())).toBe(0);
    } finally {
      await second.stop();
    }
  });

  it('several workers share one batch and a killed one loses nothing', async () => {
    stub.reset();
    const workers = [
      await startWorker(stub.url, api.storageDir, WORKER),
      await startWorker(stub.url, api.storageDir, WORKER),
    ];
    try {
      const created = await createBatch(
        tenant.client,
        CHAT,
        batchLines(
          CHAT,
          'stub-shared',
          numbered(LINES, (i) => `shared ${i}`),
        ),
      );
      await waitForBatch(tenant.client, created.id, (b) => (b.request_counts?.completed ?? 0) >= 100);
      await workers[0].stop('SIGKILL');
      const batch = await waitForBatch(tenant.client, created.id, undefined, 60_000);
      expect(batch.status).toBe('completed');
      const { ids, unique } = await allResults(tenant.client, batch);
      expect(unique).toBe(true);
      expect(ids).toHaveLength(LINES);
      expect(batch.request_counts).toEqual({ total: LINES, completed: LINES, failed: 0 });
      // Both took chunks of the same batch; the survivor finished the killed one's.
      const chunks = (output: string, what: string) => (output.match(new RegExp(`Chunk ${what}`, 'g')) ?? []).length;
      expect(chunks(workers[0].output, 'started')).toBeGreaterThan(0);
      expect(chunks(workers[1].output, 'started')).toBeGreaterThan(0);
      expect(chunks(workers[1].output, 'done')).toBeGreaterThan(0);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  });
});
