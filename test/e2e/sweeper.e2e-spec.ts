import { Queue } from 'bullmq';
import { toFile } from 'openai';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobName, newBatchId, QUEUE_PREFIX, QueueName, redisOptionsFromUrl, SWEEPS } from '@app/core';
import { type Tenant } from '../support/clients';
import { batchLines, numbered, type StubHandle, uploadBatchInput, waitForBatch } from '../support/batches';
import { TEST_REDIS_URL } from '../support/env';
import { type ApiHandle, type AppProcess, freePort, startWorker } from '../support/processes';
import { type TestStorage } from '../support/storage';
import { startStack, type Stack } from '../support/stack';

/** Runs of each sweep a worker reports on /metrics: of one outcome, or both added up. */
async function sweepRuns(workerUrl: string, outcome?: 'ok' | 'error'): Promise<Record<string, number>> {
  const text = await (await fetch(`${workerUrl}/metrics`)).text();
  const runs: Record<string, number> = {};
  for (const [, sweep, of, value] of text.matchAll(
    /^venna_sweep_runs_total\{sweep="([^"]+)",outcome="(\w+)"\} (\S+)$/gm,
  )) {
    if (outcome === undefined || of === outcome) {
      runs[sweep] = (runs[sweep] ?? 0) + Number(value);
    }
  }
  return runs;
}

/**
 * Housekeeping: no batch stays open without a job, and expired files go away, bytes included. Each sweep is a job
 * of its own scheduler: it fails alone and runs once per tick across the workers.
 */
describe('Worker sweeper', () => {
  let stack: Stack;
  let storage: TestStorage;
  let stub: StubHandle;
  let api: ApiHandle;
  let worker: AppProcess | undefined;
  let tenant: Tenant;
  let db: Client;

  beforeAll(async () => {
    stack = await startStack({ storage: true, stub: {}, db: true });
    ({ storage, stub, api, tenant, db } = stack);
  });
  afterAll(async () => {
    await worker?.stop();
    await stack?.stop();
  });

  /** A worker sweeping every second, with its metrics at the url returned. */
  async function startSweeper(): Promise<{ process: AppProcess; url: string }> {
    const port = await freePort();
    const process = await startWorker(stub.url, api.storageDir, {
      ...storage.env,
      BATCH_SWEEP_INTERVAL_MS: '1000',
      WORKER_HTTP_PORT: String(port),
    });
    return { process, url: `http://127.0.0.1:${port}` };
  }

  it('enqueues a batch stored without a job (the api died in between) deletes expired files and what killed uploads left', async () => {
    const input = await uploadBatchInput(tenant.client, batchLines('/v1/chat/completions', 'stub-orphan', numbered(3)));
    // An id of its own: the suite runs once per storage driver against one database.
    const orphanId = newBatchId();
    await db.query(
      `INSERT INTO batches (id, workspace_id, endpoint, input_file_id, completion_window, status, created_at, expires_at)
       VALUES ($3, $1, '/v1/chat/completions', $2, '24h', 'validating',
               clock_timestamp() - interval '10 seconds', clock_timestamp() + interval '1 day')`,
      [tenant.workspaceId, input.id, orphanId],
    );
    const doomed = await tenant.client.files.create({
      file: await toFile(Buffer.from('old'), 'old.txt'),
      purpose: 'user_data',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    const bytesAt = `${tenant.workspaceId}/files/${doomed.id}`;
    expect(await storage.exists(bytesAt)).toBe(true);
    await db.query(`UPDATE files SET expires_at = clock_timestamp() - interval '1 second' WHERE id = $1`, [doomed.id]);
    await expect(tenant.client.files.retrieve(doomed.id)).rejects.toMatchObject({ status: 404 });

    // What an upload killed with its api (SIGKILL) leaves: a write that never became a file.
    const killedUpload = `${tenant.workspaceId}/files/file-killed`;
    const arrivingUpload = `${tenant.workspaceId}/files/file-arriving`;
    await storage.leaveUnfinishedWrite(killedUpload, new Date(Date.now() - 2 * 3600_000));
    await storage.leaveUnfinishedWrite(arrivingUpload, new Date());

    worker = await startWorker(stub.url, api.storageDir, { ...storage.env, BATCH_SWEEP_INTERVAL_MS: '1000' });
    const batch = await waitForBatch(tenant.client, orphanId);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 3, completed: 3, failed: 0 } });
    await expect.poll(() => storage.exists(bytesAt), { timeout: 10_000 }).toBe(false);
    const rows = await db.query('SELECT 1 FROM files WHERE id = $1', [doomed.id]);
    expect(rows.rowCount).toBe(0);
    await expect.poll(() => storage.unfinishedWrites(), { timeout: 10_000 }).toEqual([arrivingUpload]);
  });

  // Both ways an input can go while its batch runs: an expires_after shorter than the batch takes, and a
  // DELETE. Either way it answers 404 at once, but its bytes stay until the batch ends: no line is dropped.
  it.each(['expires', 'is deleted'] as const)(
    'keeps the input of a running batch that %s until the batch ends: no line is dropped',
    async (how) => {
      // Small chunks, one at a time: most of them open the input only after it has gone.
      await worker?.stop();
      worker = await startWorker(stub.url, api.storageDir, {
        ...storage.env,
        BATCH_SWEEP_INTERVAL_MS: '1000',
        BATCH_CHUNK_SIZE: '8',
        WORKER_CHUNK_JOBS: '1',
        WORKER_CONCURRENCY: '8',
      });
      const lines = 48;
      const input = await uploadBatchInput(
        tenant.client,
        batchLines(
          '/v1/chat/completions',
          'stub-vanishing-input',
          numbered(lines, (i) => `slow ${i} [stub:delay=1000]`),
        ),
      );
      const created = await tenant.client.batches.create({
        input_file_id: input.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      await waitForBatch(tenant.client, created.id, (b) => (b.request_counts?.completed ?? 0) >= 1);
      // The sweeper runs every second: it meets the gone input several times before the batch ends.
      if (how === 'expires') {
        await db.query(`UPDATE files SET expires_at = clock_timestamp() - interval '1 second' WHERE id = $1`, [
          input.id,
        ]);
      } else {
        expect(await tenant.client.files.delete(input.id)).toMatchObject({ id: input.id, deleted: true });
        await expect(tenant.client.files.delete(input.id)).rejects.toMatchObject({ status: 404 });
      }
      await expect(tenant.client.files.retrieve(input.id)).rejects.toMatchObject({ status: 404 });
      const listed = await tenant.client.files.list({ purpose: 'batch' });
      expect(listed.data.map((f) => f.id)).not.toContain(input.id);
      const batch = await waitForBatch(tenant.client, created.id, undefined, 60_000);
      expect(batch).toMatchObject({
        status: 'completed',
        request_counts: { total: lines, completed: lines, failed: 0 },
      });
      const output = await (await tenant.client.files.content(batch.output_file_id!)).text();
      expect(
        new Set(
          output
            .trim()
            .split('\n')
            .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id),
        ).size,
      ).toBe(lines);
      // Once the batch has ended, the gone input goes like any other, bytes included (row first, then bytes).
      await expect
        .poll(
          async () => [
            (await db.query('SELECT 1 FROM files WHERE id = $1', [input.id])).rowCount,
            await storage.exists(`${tenant.workspaceId}/files/${input.id}`),
          ],
          { timeout: 10_000 },
        )
        .toEqual([0, false]);
    },
  );

  it('a sweep that fails is logged, counted and run again at its next tick; the others run all the same', async () => {
    await worker?.stop();
    const doomed = await tenant.client.files.create({
      file: await toFile(Buffer.from('old'), 'old.txt'),
      purpose: 'user_data',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    await db.query(`UPDATE files SET expires_at = clock_timestamp() - interval '1 second' WHERE id = $1`, [doomed.id]);
    // The idempotency sweep's table gone: each of its runs fails, while the tables of the others are all there.
    const failing = JobName.PurgeExpiredIdempotencyKeys;
    await db.query('ALTER TABLE idempotency_keys RENAME TO idempotency_keys_away');
    let sweeper: { process: AppProcess; url: string };
    try {
      sweeper = await startSweeper();
      worker = sweeper.process;
      await expect
        .poll(async () => (await sweepRuns(sweeper.url, 'error'))[failing], { timeout: 20_000 })
        .toBeGreaterThanOrEqual(2);
      const ok = await sweepRuns(sweeper.url, 'ok');
      expect(ok[failing]).toBe(0);
      for (const sweep of SWEEPS.filter((name) => name !== failing)) {
        expect(ok[sweep], sweep).toBeGreaterThanOrEqual(1);
      }
      expect((await db.query('SELECT 1 FROM files WHERE id = $1', [doomed.id])).rowCount).toBe(0);
      expect(worker.output).toContain(`Sweep ${failing} failed, it runs again at its next tick`);
      expect(worker.output.match(/Sweep \S+ failed/g)?.every((line) => line === `Sweep ${failing} failed`)).toBe(true);
    } finally {
      await db.query('ALTER TABLE idempotency_keys_away RENAME TO idempotency_keys');
    }
    // Its table back, the failed sweep's next tick goes through.
    await expect
      .poll(async () => (await sweepRuns(sweeper.url, 'ok'))[failing], { timeout: 10_000 })
      .toBeGreaterThanOrEqual(1);
  });

  it('two workers keep one schedule per sweep, and each tick of a sweep runs in one of them only', async () => {
    await worker?.stop();
    const maintenance = new Queue(QueueName.Maintenance, {
      prefix: QUEUE_PREFIX,
      connection: redisOptionsFromUrl(TEST_REDIS_URL),
    });
    const startedAt = Date.now();
    const workers = [await startSweeper(), await startSweeper()];
    try {
      expect((await maintenance.getJobSchedulers()).map((scheduler) => scheduler.key).sort()).toEqual(
        [...SWEEPS].sort(),
      );
      const sweep: string = JobName.ExpireUploads;
      const runsOf = async (url: string) => (await sweepRuns(url))[sweep] ?? 0;
      const runsInAll = async () => (await Promise.all(workers.map(({ url }) => runsOf(url)))).reduce((a, b) => a + b);
      await expect.poll(runsInAll, { timeout: 20_000 }).toBeGreaterThanOrEqual(5);
      // Stopped between two ticks: no run under way, so the workers' counts and the jobs BullMQ ran can be compared.
      await maintenance.pause();
      await expect.poll(() => maintenance.getActiveCount(), { timeout: 10_000 }).toBe(0);
      const ran = (await maintenance.getJobs(['completed', 'failed'])).filter(
        (job) => job.name === sweep && (job.processedOn ?? 0) >= startedAt,
      );
      expect(new Set(ran.map((job) => job.id)).size).toBe(ran.length);
      expect(await runsInAll()).toBe(ran.length);
    } finally {
      await maintenance.resume();
      await maintenance.close();
      await Promise.all(workers.map(({ process }) => process.stop()));
    }
  });
});
