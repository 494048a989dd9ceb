import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BatchEntity, LocalDiskStorage, newBatchId, newWorkspaceId, ResultJournalRepository } from '@app/core';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkerEnvironment } from '../../apps/worker/src/config/worker-environment';
import { OutageGuard } from '../../apps/worker/src/infrastructure/outage-guard';
import { ChunkJournal } from '../../apps/worker/src/batch-runner/journal/chunk-journal';
import {
  JournalStore,
  SegmentDraft,
  type StoredSegment,
} from '../../apps/worker/src/batch-runner/journal/journal-store';
import type { LineResult } from '../../apps/worker/src/batch-runner/journal/line-result';
import { WorkerMetrics } from '../../apps/worker/src/monitoring/worker-metrics';
import { insertRunningBatch, insertWorkspace, migratedDataSource } from '../support/database';
import { waitUntil } from '../support/poll';

/** No outage here: a failure must surface at once. */
const noRetry = { retry: <T>(_what: string, operation: () => Promise<T>) => operation() } as OutageGuard;

const answer = (lineNumber: number, outcome: 'succeeded' | 'failed' = 'succeeded'): LineResult => ({
  lineNumber,
  outcome,
  line: JSON.stringify({
    custom_id: `req-${lineNumber}`,
    response: { status_code: outcome === 'succeeded' ? 200 : 400 },
  }),
  usage: { inputTokens: 10, cachedTokens: 1, outputTokens: 5, reasoningTokens: 0 },
});

/** Stores a group as a segment and records it, as a chunk's journal does with each group. */
const recordGroup = async (
  journalStore: JournalStore,
  batch: { id: string; workspaceId: string },
  segment: string,
  group: LineResult[],
) => journalStore.commit(batch, await journalStore.store(batch, segment, draftOf(group)));

function draftOf(group: LineResult[]): SegmentDraft {
  const draft = new SegmentDraft(16);
  group.forEach((result) => draft.add(result));
  return draft;
}

/** What a fake journal store needs to start groups, as the real one does (without its buffer pool). */
const drafting = { draft: (capacity: number, lineCapacity: number) => new SegmentDraft(capacity, lineCapacity) };

/** A journal store whose storage takes every group and whose database refuses connections while `away.down`. */
function databaseAway() {
  const away = { down: true, stores: [] as number[][], commits: [] as number[][] };
  const store = {
    ...drafting,
    store: (_batch: unknown, segment: string, draft: SegmentDraft) => {
      away.stores.push(Array.from(draft.lines().lineNumber));
      return Promise.resolve({ segment, lines: draft.lines() });
    },
    commit: (_batch: unknown, { lines }: StoredSegment) => {
      away.commits.push(Array.from(lines.lineNumber));
      return away.down
        ? Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
        : Promise.resolve(lines.lineNumber.length);
    },
  };
  return { store: store as unknown as JournalStore, away };
}

/** Groups of two, and an outage tolerance no test outlasts. */
const patientJournal = (store: JournalStore, batch: { id: string; workspaceId: string }) =>
  new ChunkJournal(store, new OutageGuard({ WORKER_OUTAGE_TOLERANCE_SECONDS: 60 } as WorkerEnvironment), batch, 'c0', {
    maxLines: 2,
    maxDelayMs: 5,
  });

/** Asks the journal for capacity and sees it withheld for a while; `capacity` is the answer still to come. */
async function heldBack(journal: ChunkJournal): Promise<{ capacity: Promise<boolean> }> {
  const capacity = journal.capacity(new AbortController().signal);
  expect(await Promise.race([capacity, sleep(300).then(() => 'still held back')])).toBe('still held back');
  return { capacity };
}

/** The result journal on the real PostgreSQL and local storage: group commit, exactly-once counting, fencing. */
describe('Result journal', () => {
  let dataSource: DataSource;
  let storageDir: string;
  let store: JournalStore;
  let records: ResultJournalRepository;
  let workspaceId: string;

  beforeAll(async () => {
    dataSource = await migratedDataSource(5);
    storageDir = mkdtempSync(join(tmpdir(), 'venna-journal-'));
    records = new ResultJournalRepository(dataSource);
    store = new JournalStore(records, new LocalDiskStorage(storageDir), new WorkerMetrics(new Registry()));
    workspaceId = newWorkspaceId();
    await insertWorkspace(dataSource, workspaceId);
  });
  afterAll(async () => {
    await dataSource?.destroy();
    rmSync(storageDir, { recursive: true, force: true });
  });

  async function runningBatch(): Promise<{ id: string; workspaceId: string }> {
    const id = newBatchId();
    await insertRunningBatch(dataSource, id, workspaceId, 100);
    return { id, workspaceId };
  }
  const load = (id: string) => dataSource.getRepository(BatchEntity).findOneByOrFail({ id });
  const segmentsOf = async (id: string) =>
    dataSource.query<unknown[]>(`SELECT DISTINCT segment FROM batch_line_results WHERE batch_id = $1`, [id]);

  it('records answers in groups: one segment per group, counts and usage added once per line', async () => {
    const batch = await runningBatch();
    const journal = new ChunkJournal(store, noRetry, batch, 'c0', { maxLines: 10, maxDelayMs: 10_000 });
    for (let line = 1; line <= 25; line++) {
      journal.add(answer(line, line % 5 === 0 ? 'failed' : 'succeeded'));
    }
    await journal.close();
    expect(journal.recorded).toBe(25);
    // 25 answers, groups of at most 10: three groups, three segments, whatever the timing.
    expect(await segmentsOf(batch.id)).toHaveLength(3);
    const row = await load(batch.id);
    expect([row.requestCompleted, row.requestFailed]).toEqual([20, 5]);
    expect([row.inputTokens, row.cachedTokens, row.outputTokens]).toEqual([250, 25, 125]);

    const [record] = await records.recordsBetween(batch.id, 7, 7);
    const segment = await store.readSegment(batch, record.segment);
    expect(segment.toString('utf8', record.byteOffset, record.byteOffset + record.byteLength)).toBe(
      `${answer(7).line}\n`,
    );
  });

  it('reuses the buffer of a recorded group for a later group, and every segment keeps its own lines', async () => {
    const batch = await runningBatch();
    const journal = new ChunkJournal(store, noRetry, batch, 'c0', { maxLines: 7, maxDelayMs: 10_000 });
    // Lines of varied lengths, so that a buffer handed on too early would show another group's bytes here.
    const lineOf = (n: number): LineResult => ({
      ...answer(n),
      line: JSON.stringify({ n, pad: 'x'.repeat((n * 37) % 90) }),
    });
    const total = 200;
    const buffers = new Set<ArrayBufferLike>();
    let stored = 0;
    const storing = vi.spyOn(store, 'store').mockImplementation(function (this: JournalStore, ...args) {
      stored++;
      buffers.add(args[2].segment().buffer);
      return JournalStore.prototype.store.apply(this, args);
    });
    try {
      for (let line = 1; line <= total; line++) {
        journal.add(lineOf(line));
        await journal.capacity(new AbortController().signal);
      }
      await journal.close();
    } finally {
      storing.mockRestore();
    }
    expect(journal.recorded).toBe(total);
    // 29 groups written from only as many buffers as groups were in the journal at once.
    expect(stored).toBe(Math.ceil(total / 7));
    expect(buffers.size).toBeLessThanOrEqual(4);
    const segments = new Map<string, Buffer>();
    for (const record of await records.recordsBetween(batch.id, 1, total)) {
      const segment = segments.get(record.segment) ?? (await store.readSegment(batch, record.segment));
      segments.set(record.segment, segment);
      expect(segment.toString('utf8', record.byteOffset, record.byteOffset + record.byteLength)).toBe(
        `${lineOf(record.lineNumber).line}\n`,
      );
    }
    expect(segments.size).toBe(Math.ceil(total / 7));
  });

  it('numbers records in commit order: concurrent groups get disjoint, increasing sequences; a re-sent line none', async () => {
    const batch = await runningBatch();
    const groups = Array.from({ length: 12 }, (_, g) => [answer(g * 5 + 1), answer(g * 5 + 2), answer(g * 5 + 3)]);
    await Promise.all(groups.map((group, g) => recordGroup(store, batch, `seq-${g}`, group)));
    expect(await recordGroup(store, batch, 'seq-again', [answer(2), answer(100)])).toBe(1);
    const rows: { segment: string; sequence: number }[] = await dataSource.query(
      `SELECT segment, sequence FROM batch_line_results WHERE batch_id = $1 ORDER BY sequence`,
      [batch.id],
    );
    expect(rows).toHaveLength(37);
    // Each group holds a contiguous run: the groups took turns under the batch row lock.
    const runs = rows.map((row) => row.segment).filter((segment, i, all) => segment !== all[i - 1]);
    expect(runs).toHaveLength(13);
    expect(new Set(runs).size).toBe(13);
    expect(rows.slice(0, 36).map((row) => row.sequence)).toEqual(Array.from({ length: 36 }, (_, i) => i + 1));
    // The re-sent line 2 left a gap (sequence 37 was its place in the group), never a reorder.
    expect(rows[36]).toEqual({ segment: 'seq-again', sequence: 38 });
    const [{ results_recorded }] = await dataSource.query(`SELECT results_recorded FROM batches WHERE id = $1`, [
      batch.id,
    ]);
    expect(results_recorded).toBe(38);
  });

  it('never counts a line twice: a repeated group and a re-sent line change nothing, in the batch or the metrics', async () => {
    const registry = new Registry();
    const counted = new JournalStore(records, new LocalDiskStorage(storageDir), new WorkerMetrics(registry));
    const batch = await runningBatch();
    const group = [answer(1), answer(2), answer(3, 'failed')];
    expect(await recordGroup(counted, batch, 'c0-a-0', group)).toBe(3);
    expect(await recordGroup(counted, batch, 'c0-a-0', group)).toBe(0);
    expect(await recordGroup(counted, batch, 'c0-b-0', [answer(2), answer(4)])).toBe(1);
    const row = await load(batch.id);
    expect([row.requestCompleted, row.requestFailed]).toEqual([3, 1]);
    expect(row.inputTokens).toBe(40);
    const series = async (name: string) =>
      (await registry.getSingleMetric(name)!.get()).values.map(({ labels, value }) => ({ ...labels, value }));
    expect(await series('venna_batch_lines_total')).toEqual(
      expect.arrayContaining([
        { outcome: 'completed', value: 3 },
        { outcome: 'failed', value: 1 },
      ]),
    );
    expect(await series('venna_tokens_total')).toEqual(
      expect.arrayContaining([
        { workspace: workspaceId, kind: 'input', value: 40 },
        { workspace: workspaceId, kind: 'cached', value: 4 },
        { workspace: workspaceId, kind: 'output', value: 20 },
      ]),
    );
  });

  it('records nothing once the batch stops running or a finalizer holds it', async () => {
    const fenced = await runningBatch();
    await dataSource.query(`UPDATE batches SET finalizer_token = 'someone' WHERE id = $1`, [fenced.id]);
    expect(await recordGroup(store, fenced, 'c0-a-0', [answer(1)])).toBe(0);
    const finished = await runningBatch();
    await dataSource.query(`UPDATE batches SET status = 'finalizing' WHERE id = $1`, [finished.id]);
    expect(await recordGroup(store, finished, 'c0-a-0', [answer(1)])).toBe(0);
    expect((await load(fenced.id)).requestCompleted + (await load(finished.id)).requestCompleted).toBe(0);
  });

  it('holds the chunk back while recording fails, keeps the answers, and goes on once it works again', async () => {
    const batch = await runningBatch();
    const { store, away } = databaseAway();
    const journal = patientJournal(store, batch);
    journal.add(answer(1));
    journal.add(answer(2));
    await waitUntil(() => away.commits.length >= 2, { what: 'a second recording attempt', intervalMs: 10 });
    const { capacity } = await heldBack(journal);

    away.down = false;
    expect(await capacity).toBe(true);
    await journal.close();
    expect(journal.recorded).toBe(2);
    // Every attempt carried the same answers: none was dropped while the store was away.
    expect(new Set(away.commits.map((lines) => lines.join(',')))).toEqual(new Set(['1,2']));
  });

  it('stores a group while the one before is committed, and commits groups in order', async () => {
    const batch = await runningBatch();
    const events: string[] = [];
    const firstCommit = Promise.withResolvers<void>();
    const pipelined = {
      ...drafting,
      store: (_batch: unknown, segment: string, draft: SegmentDraft) => {
        events.push(`store ${draft.lines().lineNumber[0]}`);
        return Promise.resolve({ segment, lines: draft.lines() });
      },
      commit: async (_batch: unknown, { lines }: StoredSegment) => {
        const first = lines.lineNumber[0];
        events.push(`commit ${first}`);
        if (first === 1) {
          await firstCommit.promise;
        }
        events.push(`committed ${first}`);
        return lines.lineNumber.length;
      },
    };
    const journal = new ChunkJournal(pipelined as unknown as JournalStore, noRetry, batch, 'c0', {
      maxLines: 2,
      maxDelayMs: 10_000,
    });
    for (let line = 1; line <= 6; line++) {
      journal.add(answer(line));
    }
    await waitUntil(() => events.includes('store 3'), { what: 'the second group stored', intervalMs: 5 });
    await sleep(50);
    // Two groups in flight at most: the third waits, and nothing commits ahead of the first.
    expect(new Set(events)).toEqual(new Set(['store 1', 'commit 1', 'store 3']));
    firstCommit.resolve();
    await journal.close();
    expect(events.filter((event) => event.startsWith('commit'))).toEqual([
      'commit 1',
      'committed 1',
      'commit 3',
      'committed 3',
      'commit 5',
      'committed 5',
    ]);
    expect(events.indexOf('store 5')).toBeGreaterThan(events.indexOf('committed 1'));
    expect(journal.recorded).toBe(6);
  });

  it('keeps holding the chunk back while the database is away, though storage takes the next group', async () => {
    const batch = await runningBatch();
    const { store, away } = databaseAway();
    const journal = patientJournal(store, batch);
    journal.add(answer(1));
    journal.add(answer(2));
    await waitUntil(() => away.commits.length >= 2, { what: 'a second commit attempt', intervalMs: 10 });
    journal.add(answer(3));
    journal.add(answer(4));
    await waitUntil(() => away.stores.some(([first]) => first === 3), {
      what: 'the second group stored',
      intervalMs: 10,
    });
    const { capacity } = await heldBack(journal);

    away.down = false;
    expect(await capacity).toBe(true);
    await journal.close();
    expect(journal.recorded).toBe(4);
  });

  it('reports a recording failure that outlasts the tolerance, and lets the chunk stop', async () => {
    const batch = await runningBatch();
    const failing = {
      ...drafting,
      store: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    };
    const journal = new ChunkJournal(failing as unknown as JournalStore, noRetry, batch, 'c0', {
      maxLines: 2,
      maxDelayMs: 5,
    });
    journal.add(answer(1));
    journal.add(answer(2));
    await sleep(20);
    expect(await journal.capacity(new AbortController().signal)).toBe(false);
    await expect(journal.close()).rejects.toThrow(/ECONNREFUSED/);
  });

  it('purges a finished batch: records and every stored object but its registered files', async () => {
    const batch = await runningBatch();
    await recordGroup(store, batch, 'c0-a-0', [answer(1)]);
    await dataSource.query(`UPDATE batches SET status = 'cancelling' WHERE id = $1`, [batch.id]);
    await dataSource.query(`UPDATE batches SET status = 'cancelled' WHERE id = $1`, [batch.id]);
    await store.purgeFinished(batch.id);
    expect([...(await records.recordsBetween(batch.id, 1, 100))]).toEqual([]);
    await expect(store.readSegment(batch, 'c0-a-0')).rejects.toThrow(/missing/);
  });
});
