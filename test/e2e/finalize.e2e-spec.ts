import { Client } from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Tenant } from '../support/clients';
import { allResults, batchLines, createBatch, numbered, type StubHandle, waitForBatch } from '../support/batches';
import { TEST_DATABASE_URL } from '../support/env';
import { type ApiHandle, type AppProcess, startWorker } from '../support/processes';
import { type TestStorage } from '../support/storage';
import { startStack, type Stack } from '../support/stack';

const CHAT = '/v1/chat/completions' as const;
const LINES = 40;
const WORKER = { WORKER_CONCURRENCY: '4', BATCH_CHUNK_SIZE: '10', WORKER_LOCK_DURATION_MS: '3000' };

/**
 * Finalize under stress: storage that refuses writes while the result files are written, and two
 * finalizers at once. Each ends with the batch completed once, its files whole, and nothing else
 * left in its storage.
 */
describe('Finalize is fenced and retried', () => {
  let stack: Stack;
  let storage: TestStorage;
  let stub: StubHandle;
  let api: ApiHandle;
  let tenant: Tenant;
  const workers: AppProcess[] = [];
  const refusals: (() => void)[] = [];

  beforeAll(async () => {
    stack = await startStack({ storage: true, stub: { latencyMs: 150 } });
    ({ storage, stub, api, tenant } = stack);
  });
  afterEach(async () => {
    refusals.splice(0).forEach((allow) => allow());
    for (const worker of workers.splice(0)) {
      worker.child.kill('SIGCONT');
      await worker.stop('SIGKILL');
    }
  });
  afterAll(() => stack?.stop());

  /** Creates a batch and, before it can finalize, makes storage refuse writes of its result files. */
  async function batchWithLockedResults(name: string) {
    const created = await createBatch(
      tenant.client,
      CHAT,
      batchLines(
        CHAT,
        `stub-${name}`,
        numbered(LINES, (i) => `${name} ${i}`),
      ),
    );
    const allow = storage.refuseWrites(`${tenant.workspaceId}/batches/${created.id}/results/`);
    refusals.push(allow);
    return { created, allow };
  }

  async function startTrackedWorker(): Promise<AppProcess> {
    const worker = await startWorker(stub.url, api.storageDir, { ...storage.env, ...WORKER });
    workers.push(worker);
    return worker;
  }

  /** The worker is finalizing the batch and waiting for storage to take its files. */
  const blockedWritingResults = (worker: AppProcess, batchId: string) =>
    worker.waitForOutput(
      new RegExp(`Writing the result files of batch ${batchId}.*waiting for the dependency`),
      30_000,
    );

  it('storage refusing writes during finalize: the batch waits in finalizing, then completes once it can write', async () => {
    const worker = await startTrackedWorker();
    const { created, allow } = await batchWithLockedResults('readonly');
    await blockedWritingResults(worker, created.id);
    expect((await tenant.client.batches.retrieve(created.id)).status).toBe('finalizing');

    allow();
    const batch = await waitForBatch(tenant.client, created.id, undefined, 30_000);
    await expectFinishedCleanly(batch);
    expect(worker.running).toBe(true);
  });

  it('two finalizers at once: only the lease holder commits; the other deletes its own files and nothing else', async () => {
    const first = await startTrackedWorker();
    const { created, allow } = await batchWithLockedResults('fenced');
    await blockedWritingResults(first, created.id);

    // Frozen mid-finalize: its job lock and its finalizer lease both run out, and a second worker takes over.
    first.child.kill('SIGSTOP');
    const second = await startTrackedWorker();
    await blockedWritingResults(second, created.id);

    allow();
    const batch = await waitForBatch(tenant.client, created.id, undefined, 30_000);
    expect(second.output).toMatch(new RegExp(`Batch ${created.id} completed`));

    // The first wakes up, writes files of its own, finds its lease gone (or, first, the journal the winner
    // purged), and removes them.
    first.child.kill('SIGCONT');
    await first.waitForOutput(
      new RegExp(
        `Finalizing batch ${created.id} stopped \\(.*(finalizer lease was taken over|Stored object .* is missing)`,
      ),
      30_000,
    );
    await expectFinishedCleanly(batch);
    expect(first.output).not.toMatch(new RegExp(`Batch ${created.id} completed`));
  });

  /** Completed once, every line once, billed once, and the batch's storage holds exactly its registered files. */
  async function expectFinishedCleanly(batch: Awaited<ReturnType<typeof waitForBatch>>) {
    expect(batch.status).toBe('completed');
    const { output, errors, ids, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    expect(ids).toHaveLength(LINES);
    expect(errors).toEqual([]);
    expect(batch.request_counts).toEqual({ total: LINES, completed: output.length, failed: 0 });

    const db = new Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    try {
      const ledger = await db.query('SELECT count(*)::int AS n FROM usage_ledger WHERE batch_id = $1', [batch.id]);
      expect(ledger.rows[0].n).toBe(1);
      const registered = await db.query('SELECT storage_key FROM files WHERE id = $1', [batch.output_file_id]);
      // The journal is purged just after the batch completes.
      const journal = async () =>
        (await db.query('SELECT count(*)::int AS n FROM batch_line_results WHERE batch_id = $1', [batch.id])).rows[0].n;
      await expect.poll(journal, { timeout: 10_000 }).toBe(0);
      const stored = await storage.everything(`${tenant.workspaceId}/batches/${batch.id}/`);
      expect(stored).toEqual(registered.rows.map((row: { storage_key: string }) => row.storage_key));
    } finally {
      await db.end();
    }
  }
});
