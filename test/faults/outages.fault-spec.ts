import type OpenAI from 'openai';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { expectEnvelope, newTenant, raw, type Tenant } from '../support/clients';
import {
  allResults,
  batchLines,
  createBatch,
  numbered,
  resent,
  startStub,
  type StubHandle,
  TERMINAL,
} from '../support/batches';
import { type ApiHandle, type AppProcess, startApi, startWorker } from '../support/processes';
import {
  type PrivatePostgres,
  type PrivateRedis,
  startPrivatePostgres,
  startPrivateRedis,
  Teardown,
} from '../support/private-services';
import { pollUntil } from '../support/poll';

const CHAT = '/v1/chat/completions' as const;
const WORKER = { WORKER_CONCURRENCY: '32', BATCH_CHUNK_SIZE: '250' };
/** The fault strikes once this share of the lines is answered: some chunks done, some running, some queued. */
const FAULT_AT_SHARE = 0.3;
const FINISH_TIMEOUT_MS = 180_000;

interface Rig {
  postgres: PrivatePostgres;
  redis: PrivateRedis;
  stub: StubHandle;
  api: ApiHandle;
  worker: AppProcess;
  tenant: Tenant;
}

/**
 * PostgreSQL or Redis goes away in the middle of a batch while the upstream stays healthy: the batch
 * must still end completed with every line answered once, and the worker must ride it out.
 * Each case gets servers of its own, so one case's damage cannot leak into the next.
 */
describe('Outages of PostgreSQL and Redis mid-batch', () => {
  const teardown = new Teardown();
  afterEach(() => teardown.run());
  afterAll(() => teardown.run());

  async function startRig(workerEnv: Record<string, string> = {}): Promise<Rig> {
    const postgres = await startPrivatePostgres();
    teardown.add(() => postgres.destroy());
    const redis = await startPrivateRedis();
    teardown.add(() => redis.stop());
    const stub = await startStub({ latencyMs: 100 });
    teardown.add(() => stub.close());
    const services = { DATABASE_URL: postgres.url, REDIS_URL: redis.url };
    const api = await startApi(services);
    // Killed, not drained: the servers are thrown away with the case, and a drain must not hang teardown.
    teardown.add(() => api.process.stop('SIGKILL'));
    const worker = await startWorker(stub.url, api.storageDir, { ...services, ...WORKER, ...workerEnv });
    teardown.add(() => worker.stop('SIGKILL'));
    const tenant = await newTenant(api.url);
    return { postgres, redis, stub, api, worker, tenant };
  }

  it('PostgreSQL stopped for 45 s: sending pauses, and the batch completes with every line answered once', async () => {
    const journal = { JOURNAL_GROUP_MAX_LINES: '100', WORKER_CHUNK_JOBS: '2' };
    const rig = await startRig(journal);
    // Once recording fails, chunks stop sending: only requests in flight and answers not yet recorded
    // (at most two groups per running chunk) can reach the upstream while the database is away.
    const maxSent =
      Number(WORKER.WORKER_CONCURRENCY) +
      Number(journal.WORKER_CHUNK_JOBS) * 2 * Number(journal.JOURNAL_GROUP_MAX_LINES);
    let sentDuringOutage = 0;
    let answerDuringOutage: Awaited<ReturnType<typeof raw>> | undefined;
    await runBatchThroughFault(rig, 'PostgreSQL stopped 45 s', 4_000, async () => {
      await rig.postgres.stop();
      const before = rig.stub.stats().requests;
      await sleep(2_000);
      answerDuringOutage = await raw(rig.api.url, '/v1/batches?limit=1', { key: rig.tenant.key });
      await sleep(43_000);
      sentDuringOutage = rig.stub.stats().requests - before;
      await rig.postgres.start();
    });
    // The api says "away, retry" (which the SDKs do), not "broken": no 500, no stack in its log.
    expectEnvelope(answerDuringOutage!, 503, { type: 'server_error', code: 'service_unavailable' });
    expect(answerDuringOutage!.headers.get('retry-after')).toBe('1');
    expect(rig.api.process.output).not.toMatch(/Unhandled error/);
    console.info(
      `fault "PostgreSQL stopped 45 s": ${sentDuringOutage} request(s) sent upstream while the database was away`,
    );
    expect(sentDuringOutage).toBeLessThanOrEqual(maxSent);
  });

  it('Redis frozen by CLIENT PAUSE for 40 s: the batch completes with every line answered once', async () => {
    const rig = await startRig();
    await runBatchThroughFault(rig, 'Redis paused 40 s', 3_000, async () => {
      await rig.redis.pause(40_000);
      // The pause ends on its own; waiting it out keeps "answered after the fault" meaningful.
      await sleep(40_000);
    });
  });

  it('Redis restarted with its data lost: the sweeper re-drives the batch to completion', async () => {
    const rig = await startRig({ BATCH_SWEEP_INTERVAL_MS: '2000' });
    await runBatchThroughFault(rig, 'Redis restarted empty', 3_000, () => rig.redis.restartEmpty());
  });
});

/** One batch of `lines` chat requests; `fault` strikes at FAULT_AT_SHARE answered; then every outcome is checked. */
async function runBatchThroughFault(rig: Rig, name: string, lines: number, fault: () => Promise<void>): Promise<void> {
  const { client } = rig.tenant;
  const started = Date.now();
  const created = await createBatch(
    client,
    CHAT,
    batchLines(
      CHAT,
      'stub-fault',
      numbered(lines, (i) => `${name}: line ${i}`),
    ),
  );
  const atFault = await pollBatch(rig, created.id, (b) => completedOf(b) >= lines * FAULT_AT_SHARE);
  expect(atFault.status).toBe('in_progress');
  await fault();
  const afterFault = await pollBatch(rig, created.id, () => true);
  const batch = await pollBatch(rig, created.id, (b) => TERMINAL.includes(b.status), FINISH_TIMEOUT_MS);

  const { output, errors, ids } = await allResults(client, batch);
  const resends = resent(rig.stub.stats());
  console.info(
    `fault "${name}": struck at ${completedOf(atFault)}/${lines} answered (${completedOf(afterFault)} when it ended), ` +
      `batch ${batch.status} after ${Math.round((Date.now() - started) / 1000)} s, ` +
      `${output.length} output / ${errors.length} error lines ${JSON.stringify(countByCode(errors))}, ${resends} line(s) re-sent`,
  );

  expect.soft(batch.status).toBe('completed');
  expect.soft(idProblems(ids, lines)).toEqual({ missing: 0, duplicated: 0, unexpected: 0 });
  // The upstream was healthy throughout: no line may fail, so the error file must be empty.
  expect.soft(countByCode(errors)).toEqual({});
  expect.soft(batch.request_counts).toEqual({ total: lines, completed: output.length, failed: 0 });
  expect.soft(rig.worker.running).toBe(true);
  expect.soft(linesMatching(rig.worker.output, /unhandled\s*(promise\s*)?rejection|uncaught exception/i)).toEqual([]);
}

/**
 * Polls retrieve() until `done` holds. Errors are expected while a service is down (the api answers
 * 5xx without its database), so they are retried; an api or worker that exits fails at once.
 */
async function pollBatch(
  rig: Rig,
  id: string,
  done: (batch: OpenAI.Batches.Batch) => boolean,
  timeoutMs = 60_000,
): Promise<OpenAI.Batches.Batch> {
  const retrieve = async (): Promise<OpenAI.Batches.Batch | Error> => {
    for (const [name, app] of [
      ['api', rig.api.process],
      ['worker', rig.worker],
    ] as const) {
      if (!app.running) {
        throw new Error(
          `The ${name} exited (${app.child.exitCode ?? app.child.signalCode}):\n${app.output.slice(-3000)}`,
        );
      }
    }
    return rig.tenant.client.batches.retrieve(id, { timeout: 5_000 }).catch((error: Error) => error);
  };
  const reached = (last: OpenAI.Batches.Batch | Error): last is OpenAI.Batches.Batch =>
    !(last instanceof Error) && done(last);
  return pollUntil(retrieve, reached, {
    what: (last) =>
      `batch ${id} to reach the expected state; ${last instanceof Error ? `last error: ${last.message}` : JSON.stringify(last)}`,
    timeoutMs,
    intervalMs: 250,
  });
}

const completedOf = (batch: OpenAI.Batches.Batch) => batch.request_counts?.completed ?? 0;

/** Error lines by code (or HTTP status): compact in a failure message, where 3,000 lines would not be. */
function countByCode(errors: { error: { code: string } | null; response: { status_code: number } | null }[]) {
  const counts: Record<string, number> = {};
  for (const line of errors) {
    const code = line.error?.code ?? `http_${line.response?.status_code}`;
    counts[code] = (counts[code] ?? 0) + 1;
  }
  return counts;
}

/** Counts, not lists, of custom_ids absent from both files, present more than once, or never sent. */
function idProblems(ids: string[], lines: number) {
  const seen = new Map<string, number>();
  ids.forEach((id) => seen.set(id, (seen.get(id) ?? 0) + 1));
  const expected = new Set(numbered(lines).map((r) => r.customId));
  return {
    missing: [...expected].filter((id) => !seen.has(id)).length,
    duplicated: [...seen.values()].filter((count) => count > 1).length,
    unexpected: [...seen.keys()].filter((id) => !expected.has(id)).length,
  };
}

const linesMatching = (text: string, pattern: RegExp) => text.split('\n').filter((line) => pattern.test(line));
