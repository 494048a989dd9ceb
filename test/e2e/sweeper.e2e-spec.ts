import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { toFile } from 'openai';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushTestRedis, newTenant, type Tenant } from '../support/clients';
import { TEST_DATABASE_URL } from '../support/env';
import { batchLines, numbered, startStub, type StubHandle, uploadBatchInput, waitForBatch } from '../support/batches';
import { type ApiHandle, type AppProcess, startApi, startWorker } from '../support/processes';

/** Housekeeping: no batch stays open without a job, and expired files go away, bytes included. */
describe('Worker sweeper', () => {
  let stub: StubHandle;
  let api: ApiHandle;
  let worker: AppProcess | undefined;
  let tenant: Tenant;
  let db: Client;

  beforeAll(async () => {
    await flushTestRedis();
    stub = await startStub();
    api = await startApi();
    tenant = await newTenant(api.url);
    db = new Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
  });
  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await stub?.close();
    await db?.end();
  });

  it('enqueues a batch stored without a job (the api died in between) and deletes expired files', async () => {
    const input = await uploadBatchInput(tenant.client, batchLines('/v1/chat/completions', 'stub-orphan', numbered(3)));
    await db.query(
      `INSERT INTO batches (id, workspace_id, endpoint, input_file_id, completion_window, status, created_at, expires_at)
       VALUES ('batch_orphan00000000000000000', $1, '/v1/chat/completions', $2, '24h', 'validating',
               clock_timestamp() - interval '10 seconds', clock_timestamp() + interval '1 day')`,
      [tenant.workspaceId, input.id],
    );
    const doomed = await tenant.client.files.create({
      file: await toFile(Buffer.from('old'), 'old.txt'),
      purpose: 'user_data',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    const bytesAt = join(api.storageDir, tenant.workspaceId, 'files', doomed.id);
    expect(existsSync(bytesAt)).toBe(true);
    await db.query(`UPDATE files SET expires_at = clock_timestamp() - interval '1 second' WHERE id = $1`, [doomed.id]);
    await expect(tenant.client.files.retrieve(doomed.id)).rejects.toMatchObject({ status: 404 });

    worker = await startWorker(stub.url, api.storageDir, { BATCH_SWEEP_INTERVAL_MS: '1000' });
    const batch = await waitForBatch(tenant.client, 'batch_orphan00000000000000000');
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 3, completed: 3, failed: 0 } });
    await expect.poll(() => existsSync(bytesAt), { timeout: 10_000 }).toBe(false);
    const rows = await db.query('SELECT 1 FROM files WHERE id = $1', [doomed.id]);
    expect(rows.rowCount).toBe(0);
  });

  it('keeps the input of a running batch past its expiry until the batch ends: no line is dropped', async () => {
    // Small chunks, one at a time: most of them open the input only after it has expired.
    await worker?.stop();
    worker = await startWorker(stub.url, api.storageDir, {
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
        'stub-expiring-input',
        numbered(lines, (i) => `slow ${i} [stub:delay=1000]`),
      ),
    );
    const created = await tenant.client.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await waitForBatch(tenant.client, created.id, (b) => (b.request_counts?.completed ?? 0) >= 1);
    // The sweeper runs every second: it meets the expired input several times before the batch ends.
    // The input expires while the batch runs (an expires_after shorter than the batch takes).
    await db.query(`UPDATE files SET expires_at = clock_timestamp() - interval '1 second' WHERE id = $1`, [input.id]);
    const batch = await waitForBatch(tenant.client, created.id, undefined, 60_000);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: lines, completed: lines, failed: 0 } });
    await expect(tenant.client.files.retrieve(input.id)).rejects.toMatchObject({ status: 404 });
    // Once the batch has ended, the expired input goes like any other.
    await expect
      .poll(async () => (await db.query('SELECT 1 FROM files WHERE id = $1', [input.id])).rowCount, { timeout: 10_000 })
      .toBe(0);
  });
});
