import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushTestRedis, newTenant, type Tenant } from '../support/clients';
import {
  allResults,
  batchLines,
  createBatch,
  numbered,
  startStub,
  type StubHandle,
  waitForBatch,
} from '../support/batches';
import { TEST_REDIS_URL } from '../support/env';
import { type ApiHandle, type AppProcess, startApi, startWorker } from '../support/processes';

const CHAT = '/v1/chat/completions' as const;
/** Small chunks make a long queue: what fairness and a prompt cancel are about. */
const WORKER = { WORKER_CONCURRENCY: '8', WORKER_CHUNK_JOBS: '2', BATCH_CHUNK_SIZE: '20' };

const chunksStarted = (worker: AppProcess, batchId: string) =>
  (worker.output.match(new RegExp(`Chunk started: ${batchId}-chunk-`, 'g')) ?? []).length;

/** How the chunk queue treats batches: round-robin between them, and a cancel that does not wait its turn. */
describe('Scheduling between batches', () => {
  let stub: StubHandle;
  let api: ApiHandle;
  let worker: AppProcess;
  let chunkQueue: Queue;

  beforeAll(async () => {
    await flushTestRedis();
    stub = await startStub({ latencyMs: 50 });
    api = await startApi();
    worker = await startWorker(stub.url, api.storageDir, WORKER);
    const url = new URL(TEST_REDIS_URL);
    chunkQueue = new Queue('batch-chunks', {
      prefix: 'venna',
      connection: { host: url.hostname, port: Number(url.port), db: Number(url.pathname.slice(1)) },
    });
  });
  afterAll(async () => {
    await chunkQueue?.close();
    await worker?.stop();
    await api?.stop();
    await stub?.close();
  });

  it('a small batch of another workspace starts at once and finishes long before a large one', async () => {
    const large: Tenant = await newTenant(api.url);
    const small: Tenant = await newTenant(api.url);
    const big = await createBatch(
      large.client,
      CHAT,
      batchLines(
        CHAT,
        'stub-large',
        numbered(2_000, (i) => `large ${i}`),
      ),
    );
    await waitForBatch(large.client, big.id, (b) => (b.request_counts?.completed ?? 0) >= 100);

    const quick = await createBatch(
      small.client,
      CHAT,
      batchLines(
        CHAT,
        'stub-small',
        numbered(10, (i) => `small ${i}`),
      ),
    );
    const done = await waitForBatch(small.client, quick.id, undefined, 60_000);
    const largeThen = await large.client.batches.retrieve(big.id);
    expect(done.status).toBe('completed');
    expect((await allResults(small.client, done)).ids).toHaveLength(10);
    // FIFO would put the small batch behind the large one's 95 queued chunks.
    expect(largeThen.status).toBe('in_progress');
    expect(largeThen.request_counts?.completed ?? 0).toBeLessThan(1_000);
    console.info(
      `fairness: small batch done in ${(done.completed_at ?? 0) - done.created_at} s while the large one had ${largeThen.request_counts?.completed}/2000 answered`,
    );
    await large.client.batches.cancel(big.id);
    const ended = await waitForBatch(large.client, big.id, undefined, 60_000);
    const { output, errors, ids, unique } = await allResults(large.client, ended);
    expect(unique).toBe(true);
    expect(ids).toHaveLength(2_000);
    expect(ended.request_counts).toEqual({ total: 2_000, completed: output.length, failed: errors.length });
  });

  it('cancel with a large backlog: waiting chunks are dropped, the batch is cancelled within seconds', async () => {
    const tenant = await newTenant(api.url);
    const created = await createBatch(
      tenant.client,
      CHAT,
      batchLines(
        CHAT,
        'stub-backlog',
        numbered(3_000, (i) => `backlog ${i}`),
      ),
    );
    await waitForBatch(tenant.client, created.id, (b) => (b.request_counts?.completed ?? 0) >= 60);
    const startedBeforeCancel = chunksStarted(worker, created.id);
    await tenant.client.batches.cancel(created.id);

    const batch = await waitForBatch(tenant.client, created.id, undefined, 15_000);
    expect(batch.status).toBe('cancelled');
    const { output, errors, ids, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    expect(ids).toHaveLength(3_000);
    expect(batch.request_counts).toEqual({ total: 3_000, completed: output.length, failed: errors.length });
    expect(errors.filter((line) => line.error?.code === 'batch_cancelled').length).toBeGreaterThan(2_000);
    // Of 150 chunks, only those already running (or just taken) were ever started; none is left queued.
    expect(chunksStarted(worker, created.id) - startedBeforeCancel).toBeLessThanOrEqual(
      Number(WORKER.WORKER_CHUNK_JOBS),
    );
    const queued = await chunkQueue.getJobs(['waiting', 'prioritized', 'delayed', 'active']);
    expect(queued.filter((job) => job.data.batchId === created.id)).toEqual([]);
  });
});
