import { join } from 'node:path';
import type OpenAI from 'openai';
import { toFile } from 'openai';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvelope, raw, type Tenant } from '../support/clients';
import { TEST_DATABASE_URL } from '../support/env';
import {
  allResults,
  batchLines,
  createBatch,
  numbered,
  type RequestSpec,
  type StubHandle,
  TERMINAL,
  uploadBatchInput,
  waitForBatch,
} from '../support/batches';
import { storedFiles } from '../support/reliability';
import { type ApiHandle, type AppProcess, startWorker } from '../support/processes';
import { startStack, type Stack } from '../support/stack';
import { pollUntil, waitUntil } from '../support/poll';

const CHAT = '/v1/chat/completions' as const;
/** Marks the batch whose window the test database makes pass as it enters finalizing (see the triggers below). */
const EXPIRE_WHILE_FINALIZING = 'expire-while-finalizing';
/** The advisory lock the test holds to keep that batch's final commit waiting. */
const FINALIZE_GATE = 424_242;
const WORKER_ENV = {
  BATCH_CHUNK_SIZE: '1',
  WORKER_CONCURRENCY: '4',
  BATCH_STATUS_POLL_MS: '50',
  BATCH_SWEEP_INTERVAL_MS: '1000',
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Requests that meet a batch or file at the same moment as the worker or as each other: a cancel as the
 * batch completes, two cancels, two deletes, a window that passes while the batch is finalizing. Each
 * ends in one consistent state: never a 500, never a batch stuck, never counts that disagree with the files.
 */
describe('Races', () => {
  let stack: Stack;
  let stub: StubHandle;
  let api: ApiHandle;
  let worker: AppProcess;
  let tenant: Tenant;
  let db: Client;

  beforeAll(async () => {
    stack = await startStack({ worker: WORKER_ENV, db: true });
    ({ stub, api, worker, tenant, db } = stack);
  });
  afterAll(async () => {
    // A case replaces the stack's worker with one of its own.
    await worker?.stop();
    await stack?.stop();
  });

  const cancel = (id: string) => raw(api.url, `/v1/batches/${id}/cancel`, { method: 'POST', key: tenant.key });

  /** Polls fast (a race needs the moment, not the next 100 ms) until `done` holds. */
  function batchReaches(id: string, done: (batch: OpenAI.Batches.Batch) => boolean, timeoutMs = 20_000) {
    return pollUntil(
      () => tenant.client.batches.retrieve(id),
      (batch) => done(batch) || TERMINAL.includes(batch.status),
      { what: (batch) => `batch ${id} to get there: ${JSON.stringify(batch)}`, timeoutMs, intervalMs: 10 },
    );
  }

  /**
   * A finished batch agrees with its files: each custom_id once (all of them once it ran), counts equal to
   * the lines, answers in the output file, and, for a cancelled batch, the rest reported as cancelled.
   */
  async function expectConsistent(batch: OpenAI.Batches.Batch, specs: RequestSpec[]) {
    const { output, errors, ids, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    if (batch.in_progress_at === null) {
      // Cancelled before it ran: no request was read, none is reported.
      expect(ids).toEqual([]);
    } else {
      expect([...ids].sort()).toEqual(specs.map((s) => s.customId).sort());
    }
    expect(batch.request_counts).toEqual({ total: ids.length, completed: output.length, failed: errors.length });
    for (const line of output) {
      expect(line).toMatchObject({ response: { status_code: 200 }, error: null });
    }
    if (batch.status === 'completed') {
      expect(errors).toEqual([]);
      expect(batch).toMatchObject({ completed_at: expect.any(Number), cancelled_at: null, expired_at: null });
    } else {
      expect(batch.status).toBe('cancelled');
      expect(batch).toMatchObject({ cancelled_at: expect.any(Number), completed_at: null });
      for (const line of errors) {
        expect(line).toMatchObject({ response: null, error: { code: 'batch_cancelled' } });
      }
    }
  }

  it('a cancel sent as the batch completes: a 200 cancelling that ends cancelled, or a 409 for a completed batch; never a 500 or a stuck batch', async () => {
    const outcomes: Record<string, number> = {};
    for (let attempt = 0; attempt < 20; attempt++) {
      // The last line answers a little later than the others: the cancel lands before, at or after its answer.
      const specs = [
        { customId: 'a', text: `race ${attempt} a` },
        { customId: 'b', text: `race ${attempt} b` },
        { customId: 'c', text: `race ${attempt} c [stub:delay=80]` },
      ];
      const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-cancel-race', specs));
      await batchReaches(created.id, (b) => (b.request_counts?.completed ?? 0) >= 2);
      await sleep((attempt % 10) * 15);
      const answer = await cancel(created.id);
      const batch = await waitForBatch(tenant.client, created.id);
      if (answer.status === 200) {
        expect(answer.body).toMatchObject({ id: created.id, status: 'cancelling' });
        expect(batch.status).toBe('cancelled');
      } else {
        // Too late: the batch was finalizing (its files were being written) or already completed.
        expectEnvelope(answer, 409, { message: /status '(finalizing|completed)'/ });
        expect(batch.status).toBe('completed');
      }
      await expectConsistent(batch, specs);
      // Once it has ended, a cancel changes nothing.
      expectEnvelope(await cancel(created.id), 409, { message: new RegExp(`status '${batch.status}'`) });
      expect((await tenant.client.batches.retrieve(created.id)).status).toBe(batch.status);
      const key = `${answer.status}${answer.status === 409 ? ` (${/'(\w+)'/.exec(answer.body.error.message)?.[1]})` : ''} → ${batch.status}`;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    }
    console.info(`cancel at completion: ${JSON.stringify(outcomes)}`);
  });

  it.each([
    ['two cancels while it validates', 2, false],
    ['two cancels while it runs', 2, true],
    ['three cancels while it runs', 3, true],
  ])(
    '%s: each a 200 cancelling (or a 409 once cancelled), the batch ends cancelled once',
    async (_what, n, running) => {
      for (let round = 0; round < 3; round++) {
        const specs = numbered(8, (i) => `slow ${round} ${i} [stub:delay=300]`);
        const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-double-cancel', specs));
        if (running) {
          await batchReaches(created.id, (b) => b.status === 'in_progress');
        }
        const answers = await Promise.all(Array.from({ length: n }, () => cancel(created.id)));
        expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(1);
        for (const answer of answers) {
          if (answer.status === 200) {
            expect(answer.body).toMatchObject({ id: created.id, status: 'cancelling' });
          } else {
            expectEnvelope(answer, 409, { message: /status 'cancelled'/ });
          }
        }
        const batch = await waitForBatch(tenant.client, created.id);
        expect(batch.status).toBe('cancelled');
        await expectConsistent(batch, specs);
        // Every 200 described the same cancel: the one the batch records.
        const stamps = new Set(answers.filter((a) => a.status === 200).map((a) => a.body.cancelling_at as number));
        expect([...stamps]).toEqual([batch.cancelling_at]);
      }
    },
  );

  it.each([
    ['two deletes', 2, 'user_data'],
    ['two deletes of a batch input no batch uses', 2, 'batch'],
    ['three deletes', 3, 'user_data'],
  ] as const)(
    '%s of one file at once: one 200 deleted, the others 404; row and bytes gone',
    async (_what, n, purpose) => {
      for (let round = 0; round < 5; round++) {
        const file =
          purpose === 'batch'
            ? await uploadBatchInput(tenant.client, batchLines(CHAT, 'm', numbered(2)))
            : await tenant.client.files.create({ file: await toFile(Buffer.from(`bytes ${round}`), 'f.txt'), purpose });
        const owned = () => storedFiles(api.storageDir).filter((path) => path.includes(file.id));
        expect(owned()).toHaveLength(1);
        const answers = await Promise.all(
          Array.from({ length: n }, () => raw(api.url, `/v1/files/${file.id}`, { method: 'DELETE', key: tenant.key })),
        );
        expect(answers.map((a) => a.status).sort()).toEqual([200, ...Array<number>(n - 1).fill(404)]);
        for (const answer of answers) {
          if (answer.status === 200) {
            expect(answer.body).toEqual({ object: 'file', deleted: true, id: file.id });
          } else {
            expectEnvelope(answer, 404, { param: 'id', message: new RegExp(file.id) });
          }
        }
        expect(owned()).toEqual([]);
        await expect(tenant.client.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
        await expect(tenant.client.files.content(file.id)).rejects.toMatchObject({ status: 404 });
        expect((await db.query('SELECT 1 FROM files WHERE id = $1', [file.id])).rowCount).toBe(0);
      }
      expect(api.process.output).not.toMatch(/but not its bytes/);
    },
  );

  it('three deletes at once of the input of a running batch: one 200 deleted, the others 404; the batch still runs every line', async () => {
    const specs = numbered(12, (i) => `slow request ${i} [stub:delay=150]`);
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'm', specs));
    await batchReaches(created.id, (b) => b.request_counts!.completed > 0);
    // Hold the file's row so that all three deletes have found the file and wait to change it at the same moment.
    const gate = new Client({ connectionString: TEST_DATABASE_URL });
    await gate.connect();
    await gate.query('BEGIN');
    await gate.query('SELECT 1 FROM files WHERE id = $1 FOR UPDATE', [created.input_file_id]);
    const deletes = Promise.all(
      Array.from({ length: 3 }, () =>
        raw(api.url, `/v1/files/${created.input_file_id}`, { method: 'DELETE', key: tenant.key }),
      ),
    );
    const waiting = async () =>
      Number(
        (
          await db.query(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ~ '^\\s*UPDATE\\s+"?files"?\\s'`,
          )
        ).rows[0].n,
      );
    try {
      await waitUntil(async () => (await waiting()) >= 3, {
        what: 'the three deletes to wait on the lock',
        intervalMs: 20,
      });
    } finally {
      // Released even when the wait fails: a row left locked would hold up every later case.
      await gate.query('COMMIT');
      await gate.end();
    }
    const answers = await deletes;
    expect(answers.map((a) => a.status).sort()).toEqual([200, 404, 404]);
    expect(answers.find((a) => a.status === 200)!.body).toEqual({
      object: 'file',
      deleted: true,
      id: created.input_file_id,
    });
    await expect(tenant.client.files.retrieve(created.input_file_id)).rejects.toMatchObject({ status: 404 });
    const batch = await waitForBatch(tenant.client, created.id);
    expect(batch.status).toBe('completed');
    await expectConsistent(batch, specs);
  });

  describe('the completion window passes while the batch is finalizing', () => {
    const LINES = 6;
    let gate: Client;

    beforeAll(async () => {
      // As the worker moves the marked batch to finalizing, its window passes; its final commit then waits at
      // the gate (an advisory lock the test holds) while it registers the result files.
      await db.query(`
        CREATE OR REPLACE FUNCTION race_expire_on_finalizing() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.status = 'finalizing' AND OLD.status = 'in_progress'
             AND NEW.metadata->>'race' = '${EXPIRE_WHILE_FINALIZING}' THEN
            NEW.expires_at := clock_timestamp() - interval '1 second';
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER race_expire_on_finalizing BEFORE UPDATE ON batches
          FOR EACH ROW EXECUTE FUNCTION race_expire_on_finalizing();
        CREATE OR REPLACE FUNCTION race_finalize_gate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM batches b WHERE NEW.filename IN (b.id || '_output.jsonl', b.id || '_error.jsonl')
                     AND b.metadata->>'race' = '${EXPIRE_WHILE_FINALIZING}') THEN
            PERFORM pg_advisory_xact_lock(${FINALIZE_GATE});
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER race_finalize_gate BEFORE INSERT ON files
          FOR EACH ROW EXECUTE FUNCTION race_finalize_gate();`);
      gate = new Client({ connectionString: TEST_DATABASE_URL });
      await gate.connect();
    });
    afterAll(async () => {
      await gate?.end();
      await db.query(`
        DROP TRIGGER IF EXISTS race_expire_on_finalizing ON batches;
        DROP TRIGGER IF EXISTS race_finalize_gate ON files;
        DROP FUNCTION IF EXISTS race_expire_on_finalizing();
        DROP FUNCTION IF EXISTS race_finalize_gate();`);
    });

    /** Backends of this database waiting at the gate, by pid. */
    const waitingAtGate = async (): Promise<number[]> =>
      (
        await db.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
        )
      ).rows.map((row) => row.pid);

    /** A batch whose every line is answered, held in finalizing with its window passed. */
    async function batchHeldInFinalizing() {
      await gate.query('SELECT pg_advisory_lock($1)', [FINALIZE_GATE]);
      const specs = numbered(LINES, (i) => `window ${i}`);
      const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-window', specs), {
        metadata: { race: EXPIRE_WHILE_FINALIZING },
      });
      await expect.poll(waitingAtGate, { timeout: 20_000 }).toHaveLength(1);
      const held = await tenant.client.batches.retrieve(created.id);
      expect(held).toMatchObject({
        status: 'finalizing',
        request_counts: { total: LINES, completed: LINES, failed: 0 },
      });
      expect(held.expires_at).toBeLessThanOrEqual(Date.now() / 1000);
      return { id: created.id, specs };
    }

    /** The end the code settles on: every line was answered before the window passed, so completed with all of them. */
    async function expectCompletedWithAllLines(id: string, specs: RequestSpec[]) {
      const batch = await waitForBatch(tenant.client, id);
      expect(batch).toMatchObject({ status: 'completed', expired_at: null, finalizing_at: expect.any(Number) });
      await expectConsistent(batch, specs);
      // Only the committed files are left in the batch's storage (a run that did not commit leaves nothing).
      const { rows } = await db.query<{ storage_key: string }>('SELECT storage_key FROM files WHERE id = ANY($1)', [
        [batch.output_file_id, batch.error_file_id].filter(Boolean),
      ]);
      const kept = rows.map((row) => join(api.storageDir, row.storage_key));
      await expect
        .poll(() => storedFiles(api.storageDir).filter((path) => path.includes(`/batches/${id}/`)), { timeout: 10_000 })
        .toEqual(kept.sort());
    }

    it('ends completed with every line, not expired: the sweeper and a cancel meanwhile change nothing', async () => {
      const { id, specs } = await batchHeldInFinalizing();
      try {
        // Past its window, finalizing: too late to cancel; the sweeper (every second) leaves it to its finalizer.
        expectEnvelope(await cancel(id), 409, { message: /status 'finalizing'/ });
        await sleep(2500);
        expect((await tenant.client.batches.retrieve(id)).status).toBe('finalizing');
        expect(await waitingAtGate()).toHaveLength(1);
      } finally {
        await gate.query('SELECT pg_advisory_unlock($1)', [FINALIZE_GATE]);
      }
      await expectCompletedWithAllLines(id, specs);
    });

    it('a finalizer killed there is taken over after the window passed: still completed with every line', async () => {
      const { id, specs } = await batchHeldInFinalizing();
      try {
        await worker.stop('SIGKILL');
        // Its backend would wait at the gate until released; end it as its client's death would.
        await db.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [await waitingAtGate()]);
        worker = await startWorker(stub.url, api.storageDir, WORKER_ENV);
        // The next worker takes the batch over (once the dead one's job lock and finalizer lease run out).
        await expect.poll(waitingAtGate, { timeout: 30_000 }).toHaveLength(1);
        expect((await tenant.client.batches.retrieve(id)).status).toBe('finalizing');
      } finally {
        await gate.query('SELECT pg_advisory_unlock($1)', [FINALIZE_GATE]);
      }
      await expectCompletedWithAllLines(id, specs);
    });
  });
});
