import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AllocateBuffer,
  BatchEntity,
  type FileRepository,
  LocalDiskStorage,
  newBatchId,
  newWorkspaceId,
  ResultJournalRepository,
} from '@app/core';
import type { BatchInputReader } from '../../apps/worker/src/batch-runner/batch-input-reader';
import { ResultFileWriter } from '../../apps/worker/src/batch-runner/finalize/result-file-writer';
import { JournalStore } from '../../apps/worker/src/batch-runner/journal/journal-store';
import { WorkerMetrics } from '../../apps/worker/src/monitoring/worker-metrics';
import { insertRunningBatch, insertWorkspace, migratedDataSource } from '../support/database';

/**
 * Local disk that takes its time: over each chunk of a result file it writes (holding up to 4 MiB at once, as an
 * object store's write gathers a part), or before each segment it reads. It notes the buffers segments were read into.
 */
class SlowDisk extends LocalDiskStorage {
  readonly readInto = new Set<ArrayBufferLike>();

  constructor(
    root: string,
    private readonly delays: { writeMs: number; readMs: number },
  ) {
    super(root);
  }

  override write(key: string, source: Readable): Promise<{ bytes: number }> {
    const slow = new Transform({
      writableHighWaterMark: 4 * 1024 * 1024,
      transform: (chunk: Buffer, _encoding, done) => void sleep(this.delays.writeMs).then(() => done(null, chunk)),
    });
    source.on('error', (error) => slow.destroy(error));
    return super.write(key, source.pipe(slow));
  }

  override async get(key: string, allocate?: AllocateBuffer): Promise<Buffer> {
    await sleep(this.delays.readMs);
    const bytes = await super.get(key, allocate);
    this.readInto.add(bytes.buffer);
    return bytes;
  }
}

const NO_TOKENS = { inputTokens: 1, cachedTokens: 0, outputTokens: 1, reasoningTokens: 0 };

/** A result line of varied length, its number in it: a byte of another line in its place shows. */
const lineOf = (n: number): string => JSON.stringify({ custom_id: `req-${n}`, pad: 'abcdefghij'.repeat(n % 37) });

describe('Result file writer', () => {
  const total = 40_000;
  const groupLines = 2_500;
  let dataSource: DataSource;
  let storageDir: string;
  let records: ResultJournalRepository;
  let batch: BatchEntity;

  beforeAll(async () => {
    dataSource = await migratedDataSource(3);
    storageDir = mkdtempSync(join(tmpdir(), 'venna-results-'));
    records = new ResultJournalRepository(dataSource);
    const store = new JournalStore(records, new LocalDiskStorage(storageDir), new WorkerMetrics(new Registry()));
    const workspaceId = newWorkspaceId();
    await insertWorkspace(dataSource, workspaceId);
    const id = newBatchId();
    await insertRunningBatch(dataSource, id, workspaceId, total);
    for (let first = 1; first <= total; first += groupLines) {
      const draft = store.draft(1024, groupLines);
      for (let n = first; n < first + groupLines; n++) {
        draft.add({ lineNumber: n, outcome: 'succeeded', line: lineOf(n), usage: NO_TOKENS });
      }
      await store.commit({ id, workspaceId }, await store.store({ id, workspaceId }, `g${first}`, draft));
    }
    batch = await dataSource.getRepository(BatchEntity).findOneByOrFail({ id });
  });
  afterAll(async () => {
    await dataSource?.destroy();
    rmSync(storageDir, { recursive: true, force: true });
  });

  /**
   * Writes the batch's output file through `storage`, with a journal store of its own, as in another worker: its pool
   * starts empty and holds only the segments it read. Every line has its record: the journal alone gives the order,
   * and neither the input nor the files table is read.
   */
  async function outputThrough(storage: SlowDisk, attempt: string): Promise<string[]> {
    const journal = new JournalStore(records, storage, new WorkerMetrics(new Registry()));
    const writer = new ResultFileWriter(
      null as unknown as FileRepository,
      storage,
      null as unknown as BatchInputReader,
      journal,
      records,
    );
    const written = await writer.write(batch, 'completed', attempt, new AbortController().signal);
    expect(written.error).toBeNull();
    const lines = readFileSync(join(storageDir, (written.output as { key: string }).key), 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    return lines;
  }

  const wholeLines = (lines: string[]): string => {
    const wrong = lines.findIndex((line, i) => line !== lineOf(i + 1));
    return wrong === -1 ? `${lines.length} lines whole` : `line ${wrong + 1}: ${lines[wrong].slice(0, 80)}`;
  };

  it('writes every line whole while the written bytes wait in a slow store and their segments serve later reads', async () => {
    const storage = new SlowDisk(storageDir, { writeMs: 10, readMs: 0 });
    expect(wholeLines(await outputThrough(storage, 'slow-store'))).toBe(`${total} lines whole`);
    // 16 segments read into fewer buffers: released ones were read into again while earlier lines were in the store.
    expect(storage.readInto.size).toBeLessThan(total / groupLines);
  });

  it('writes every line whole while segment reads lag behind the writing', async () => {
    const storage = new SlowDisk(storageDir, { writeMs: 0, readMs: 20 });
    expect(wholeLines(await outputThrough(storage, 'slow-reads'))).toBe(`${total} lines whole`);
    expect(storage.readInto.size).toBeLessThan(total / groupLines);
  });
});
