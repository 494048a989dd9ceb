import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
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
const CAPACITY = 6;
const LINES = 600;
const WORKERS = 3;
const PER_WORKER = 16;

/**
 * Three workers share one upstream that accepts only CAPACITY requests at once and answers 429 to
 * the rest: their shared AIMD limit (in Redis) settles near that capacity instead of 3 × 16.
 */
describe('Adaptive upstream concurrency shared by all workers', () => {
  let stub: StubHandle;
  let api: ApiHandle;
  let tenant: Tenant;
  let workers: AppProcess[] = [];

  beforeAll(async () => {
    await flushTestRedis();
    stub = await startStub({ latencyMs: 40, capacity: CAPACITY, retryAfterMs: 50 });
    api = await startApi();
    tenant = await newTenant(api.url);
    workers = await Promise.all(
      Array.from({ length: WORKERS }, () =>
        startWorker(stub.url, api.storageDir, {
          WORKER_CONCURRENCY: String(PER_WORKER),
          WORKER_CHUNK_JOBS: '2',
          BATCH_CHUNK_SIZE: '50',
        }),
      ),
    );
  });
  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await api?.stop();
    await stub?.close();
  });

  it('converges to the capacity: the batch completes, every line once, few requests refused', async () => {
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-aimd', numbered(LINES)));
    const batch = await waitForBatch(tenant.client, created.id, undefined, 120_000);
    expect(batch.status).toBe('completed');
    const { output, errors, ids, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    expect(ids).toHaveLength(LINES);
    expect(errors).toEqual([]);
    expect(batch.request_counts).toEqual({ total: LINES, completed: output.length, failed: 0 });

    const stats = stub.stats();
    // Without a shared limit, 48 requests would press on 6 places and most attempts would be refused.
    expect(stats.overCapacity).toBeLessThan(LINES * 0.25);
    expect(stats.peakInFlight).toBe(CAPACITY);
    // Every worker took part.
    for (const worker of workers) {
      expect(worker.output).toMatch(/Chunk started/);
    }
    // The limit saw congestion and was cut; where it ends in its sawtooth depends on the batch's last
    // answers, but it stays far below the 48 the workers would send unconstrained.
    const { limit, congested } = await sharedLimit();
    expect(congested).toBe('1');
    expect(limit).toBeLessThan((WORKERS * PER_WORKER) / 2);
    console.info(
      `aimd test: ${stats.requests} requests for ${LINES} lines, ${stats.overCapacity} refused with 429, shared limit now ${limit.toFixed(2)}`,
    );
  });
});

describe('Upstream slots of a killed worker', () => {
  let stub: StubHandle;
  let api: ApiHandle;
  let tenant: Tenant;
  const workers: AppProcess[] = [];

  beforeAll(async () => {
    await flushTestRedis();
    stub = await startStub({ latencyMs: 40 });
    api = await startApi();
    tenant = await newTenant(api.url);
  });
  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await api?.stop();
    await stub?.close();
  });

  it('come back after their lease TTL: a worker started after the kill finishes the batch', async () => {
    // Four places in all: the killed worker holds every one of them when it dies.
    const routes = join(mkdtempSync(join(tmpdir(), 'venna-routes-')), 'upstreams.json');
    writeFileSync(routes, JSON.stringify({ upstreams: [{ match: '*', base_url: stub.url, max_concurrency: 4 }] }));
    const env = {
      UPSTREAMS_FILE: routes,
      WORKER_CONCURRENCY: '4',
      BATCH_CHUNK_SIZE: '50',
      WORKER_LOCK_DURATION_MS: '3000',
    };
    const first = await startWorker(stub.url, api.storageDir, env);
    workers.push(first);
    const created = await createBatch(
      tenant.client,
      CHAT,
      batchLines(
        CHAT,
        'stub-lease',
        numbered(200, (i) => `lease ${i}`),
      ),
    );
    await waitForBatch(tenant.client, created.id, (b) => (b.request_counts?.completed ?? 0) >= 40);
    await first.stop('SIGKILL');
    expect(await heldLeases()).toBeGreaterThan(0);

    workers.push(await startWorker(stub.url, api.storageDir, env));
    const batch = await waitForBatch(tenant.client, created.id, undefined, 60_000);
    expect(batch.status).toBe('completed');
    const { ids, unique, errors } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    expect(ids).toHaveLength(200);
    expect(errors).toEqual([]);
    expect(stub.stats().peakInFlight).toBeLessThanOrEqual(4);
  });
});

async function heldLeases(): Promise<number> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const keys = await redis.keys('venna:upstream:*:leases');
    return keys.length === 0 ? 0 : redis.zcard(keys[0]);
  } finally {
    redis.disconnect();
  }
}

async function sharedLimit(): Promise<{ limit: number; congested: string | null }> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const keys = await redis.keys('venna:upstream:*:state');
    expect(keys).toHaveLength(1);
    const [limit, congested] = await redis.hmget(keys[0], 'limit', 'congested');
    return { limit: Number(limit), congested };
  } finally {
    redis.disconnect();
  }
}
