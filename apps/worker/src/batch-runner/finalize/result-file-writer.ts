import { Injectable } from '@nestjs/common';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { EntityManager } from 'typeorm';
import {
  type BatchEntity,
  FileRepository,
  FileStorage,
  isBlankLine,
  type LineRecord,
  type LineRecords,
  newFileId,
  parseJsonLine,
  type ResultFile,
  resultFileKey,
  ResultJournalRepository,
  ResultSequence,
  ResultSequenceBuilder,
} from '@app/core';
import { BatchInputReader } from '../batch-input-reader';
import { JournalStore } from '../journal/journal-store';
import { type FinalStatus, notExecutedLine } from '../result-lines';

/** Input lines merged with the journal this many at a time (bounds memory, whatever the file size). */
const WINDOW_LINES = 2000;
/** Lines whose journal records are read at a time when they alone give the order: small rows, so more of them. */
const RECORD_WINDOW_LINES = 5000;
/** Windows loaded while an earlier one is written: a window's reads (a query, then its segments) wait on I/O. */
const WINDOWS_AHEAD = 2;

export interface StoredResultFile {
  key: string;
  bytes: number;
}

export interface WrittenResults {
  output: StoredResultFile | null;
  error: StoredResultFile | null;
  /** Input lines that have no answer and are reported as not executed. */
  notExecuted: number;
  /** The order of the written lines, for the results reader. */
  sequence: ResultSequence;
}

export const NO_RESULTS: WrittenResults = {
  output: null,
  error: null,
  notExecuted: 0,
  sequence: new ResultSequence([]),
};

interface Entry {
  lineNumber: number;
  /** The request line, decoded only if it has no answer (its custom_id is then needed). */
  bytes: Buffer;
}

interface Window {
  /** The window's requests in input order; null when its records alone give the order (each request has one). */
  entries: Entry[] | null;
  records: LineRecords;
}

interface LoadedWindow {
  window: Window;
  segments: Map<string, Buffer>;
}

interface ResultLine {
  line: SegmentSlice | string;
  outcome: 'succeeded' | 'failed' | 'not_executed';
  recorded: number | null;
}

/**
 * Writes a batch's output and error files: one line per request in input order, answers taken from
 * the journal, unanswered lines reported as not executed. Keys are unique to the attempt, so a
 * finalizer never overwrites another's files; on failure it deletes what it wrote.
 */
@Injectable()
export class ResultFileWriter {
  constructor(
    private readonly files: FileRepository,
    private readonly storage: FileStorage,
    private readonly input: BatchInputReader,
    private readonly journal: JournalStore,
    private readonly records: ResultJournalRepository,
  ) {}

  async write(batch: BatchEntity, status: FinalStatus, attempt: string, stop: AbortSignal): Promise<WrittenResults> {
    const keys = { output: resultFileKey(batch, 'output', attempt), error: resultFileKey(batch, 'error', attempt) };
    const streams = { output: new PassThrough(), error: new PassThrough() };
    const writes = [this.storage.write(keys.output, streams.output), this.storage.write(keys.error, streams.error)];
    const runs = { output: new AdjacentLines(streams.output), error: new AdjacentLines(streams.error) };
    const stored = Promise.all(writes);
    // A storage failure (disk full, read-only) must end the writing loop below, not leave it waiting for 'drain'.
    const storageFailed = new Promise<never>((_, reject) => {
      stored.catch(reject);
    });
    storageFailed.catch(() => undefined);
    const counts = { output: 0, error: 0, notExecuted: 0 };
    const sequence = new ResultSequenceBuilder();
    try {
      for await (const window of this.loadedWindows(batch)) {
        stop.throwIfAborted();
        for (const { line, outcome, recorded } of resultLines(window, status)) {
          const target = outcome === 'succeeded' ? 'output' : 'error';
          counts[target]++;
          counts.notExecuted += outcome === 'not_executed' ? 1 : 0;
          sequence.add(target, recorded);
          if (!runs[target].write(line)) {
            await Promise.race([once(streams[target], 'drain'), storageFailed]);
          }
        }
        // The window's segments go back to the pool when the next window is asked for: nothing may point into them.
        for (const target of ['output', 'error'] as const) {
          if (!runs[target].flush()) {
            await Promise.race([once(streams[target], 'drain'), storageFailed]);
          }
        }
      }
      runs.output.end();
      runs.error.end();
      const [output, error] = await stored;
      return {
        output: counts.output > 0 ? { key: keys.output, bytes: output.bytes } : await this.discard(keys.output),
        error: counts.error > 0 ? { key: keys.error, bytes: error.bytes } : await this.discard(keys.error),
        notExecuted: counts.notExecuted,
        sequence: sequence.build(),
      };
    } catch (failure) {
      streams.output.destroy();
      streams.error.destroy();
      // Both writes must have ended before their keys are deleted: one still retrying (the S3 client retries a
      // 503 itself) would otherwise put its object back after the delete, a file no run owns.
      await Promise.allSettled(writes);
      await this.deleteQuietly([keys.output, keys.error]);
      throw failure;
    }
  }

  /**
   * Registers the written files as the batch's output and error files, and keeps their lines' sequences for
   * the results reader (inside the final transaction).
   */
  async register(
    manager: EntityManager,
    batch: BatchEntity,
    written: WrittenResults,
  ): Promise<{ outputFileId: string | null; errorFileId: string | null }> {
    await this.records.keepResultSequence(batch.id, written.sequence, manager);
    return {
      outputFileId: written.output ? await this.registerFile(manager, batch, written.output, 'output') : null,
      errorFileId: written.error ? await this.registerFile(manager, batch, written.error, 'error') : null,
    };
  }

  /** Whether any of these stored files is registered as a file (that is, its finalize committed). */
  registered(keys: string[]): Promise<boolean> {
    return this.files.anyStoredAt(keys);
  }

  /** Removes files of a run that did not commit; a failure here leaves them to the batch's purge. */
  async deleteQuietly(keys: string[]): Promise<void> {
    for (const key of keys) {
      await this.storage.delete(key).catch(() => undefined);
    }
  }

  /**
   * The windows in input order, each with the segments its records point into. Later windows (their records, then
   * their segments) load while this one's lines are written: reading the journal and writing the files overlap.
   */
  private async *loadedWindows(batch: BatchEntity): AsyncGenerator<LoadedWindow> {
    const windows = this.windows(batch);
    const segments = new SegmentReads(this.journal, batch);
    const loading: Promise<LoadedWindow | null>[] = [];
    const loadNext = () => {
      const load = this.loadWindow(windows, segments);
      load.catch(() => undefined); // awaited in turn; a stop before then leaves it to the finally below
      loading.push(load);
    };
    for (let i = 0; i <= WINDOWS_AHEAD; i++) {
      loadNext();
    }
    try {
      for (let current = await loading.shift(); current; current = await loading.shift()) {
        loadNext();
        yield current;
        segments.release(current.segments);
      }
    } finally {
      await Promise.allSettled(loading);
      await windows.return(undefined);
    }
  }

  /** The next window and the segments its records point into; null at the end. */
  private async loadWindow(windows: AsyncGenerator<Window>, segments: SegmentReads): Promise<LoadedWindow | null> {
    const next = await windows.next();
    if (next.done) {
      return null;
    }
    const names = next.value.records.segmentNames;
    const read = await Promise.all(names.map(async (name) => [name, await segments.take(name)] as const));
    return { window: next.value, segments: new Map(read) };
  }

  /**
   * The batch's requests in input order, a window at a time, with their journal records. The input is read only
   * when some request has no record, for that line's custom_id; when every request has one (or the input is gone),
   * the journal alone gives the order.
   */
  private async *windows(batch: BatchEntity): AsyncGenerator<Window> {
    const recorded = await this.records.recordedExtent(batch.id);
    const input = recorded.count >= batch.requestTotal ? null : await this.input.open(batch);
    if (!input) {
      yield* this.recordedWindows(batch, recorded.lastLine);
      return;
    }
    let entries: Entry[] = [];
    for await (const line of input) {
      // A running batch passed validation: every line that is not blank is a request.
      if (!isBlankLine(line.bytes)) {
        entries.push({ lineNumber: line.number, bytes: line.bytes });
        if (entries.length >= WINDOW_LINES) {
          yield await this.withRecords(batch, entries);
          entries = [];
        }
      }
    }
    if (entries.length > 0) {
      yield await this.withRecords(batch, entries);
    }
  }

  private async withRecords(batch: BatchEntity, entries: Entry[]): Promise<Window> {
    const first = entries[0].lineNumber;
    const last = entries[entries.length - 1].lineNumber;
    return { entries, records: await this.records.recordsBetween(batch.id, first, last) };
  }

  /**
   * The journal's records a range of line numbers at a time, up to `lastLine`. A range rather than "the next N after
   * line L": the planner, misled by a table whose size swings by whole batches, answered that by collecting every
   * later record of the batch and sorting them, for each window.
   */
  private async *recordedWindows(batch: BatchEntity, lastLine: number): AsyncGenerator<Window> {
    for (let first = 1; first <= lastLine; first += RECORD_WINDOW_LINES) {
      yield {
        entries: null,
        records: await this.records.recordsBetween(batch.id, first, first + RECORD_WINDOW_LINES - 1),
      };
    }
  }

  private async registerFile(
    manager: EntityManager,
    batch: BatchEntity,
    file: StoredResultFile,
    kind: ResultFile,
  ): Promise<string> {
    const id = newFileId();
    await this.files.insertBatchFile(
      {
        id,
        workspaceId: batch.workspaceId,
        purpose: 'batch_output',
        filename: `${batch.id}_${kind}.jsonl`,
        bytes: file.bytes,
        storageKey: file.key,
        ttlSeconds: batch.outputExpiresAfterSeconds,
      },
      manager,
    );
    return id;
  }

  private async discard(key: string): Promise<null> {
    await this.storage.delete(key);
    return null;
  }
}

/**
 * The segments of the windows being loaded or written, each read once while any of them needs it: adjacent windows
 * share the segment that spans their boundary.
 */
class SegmentReads {
  private readonly reads = new Map<string, { bytes: Promise<Buffer>; users: number }>();

  constructor(
    private readonly journal: JournalStore,
    private readonly batch: BatchEntity,
  ) {}

  take(segment: string): Promise<Buffer> {
    let read = this.reads.get(segment);
    if (!read) {
      read = { bytes: this.journal.readSegment(this.batch, segment), users: 0 };
      this.reads.set(segment, read);
    }
    read.users++;
    return read.bytes;
  }

  /** Ends a window's use of its segments: one no window uses any more goes back to the journal's pool. */
  release(segments: Map<string, Buffer>): void {
    for (const [segment, bytes] of segments) {
      const read = this.reads.get(segment);
      if (read && --read.users === 0) {
        this.reads.delete(segment);
        this.journal.releaseSegment(bytes);
      }
    }
  }
}

/**
 * A window's result lines in input order, made one at a time as they are written: made for a whole window ahead,
 * they would live long enough to be promoted.
 */
function* resultLines({ window, segments }: LoadedWindow, status: FinalStatus): Generator<ResultLine> {
  if (!window.entries) {
    for (const record of window.records) {
      yield recordedLine(segments, record);
    }
    return;
  }
  for (const entry of window.entries) {
    const record = window.records.get(entry.lineNumber);
    yield record
      ? recordedLine(segments, record)
      : { line: `${notExecutedLine(customIdOf(entry.bytes), status)}\n`, outcome: 'not_executed', recorded: null };
  }
}

const recordedLine = (segments: Map<string, Buffer>, record: LineRecord): ResultLine => ({
  line: sliceLine(segments, record),
  outcome: record.outcome,
  recorded: record.sequence,
});

function customIdOf(bytes: Buffer): string {
  const parsed = parseJsonLine(bytes);
  return parsed.kind === 'object' ? String(parsed.value.custom_id) : '';
}

/** A run of adjacent lines is written (copied) once it reaches this size. */
const MAX_RUN_BYTES = 64 * 1024;

/** A journal line where its segment holds it, newline included: copied to the result file as bytes, never decoded. */
interface SegmentSlice {
  segment: Buffer;
  start: number;
  end: number;
}

/**
 * Writes lines to a result file, a line of a segment joined to the one before when it follows it in the same
 * segment (a segment's lines in order: all of them when the journal was copied from a provider's output): one write
 * per run instead of one per line. A run is written as a copy: the stream may still hold it after its segment has
 * gone back to the pool.
 */
class AdjacentLines {
  private run: SegmentSlice | null = null;

  constructor(private readonly stream: PassThrough) {}

  /** Returns false when the stream asks to wait for 'drain'. */
  write(line: SegmentSlice | string): boolean {
    const run = this.run;
    if (
      run &&
      typeof line !== 'string' &&
      line.segment === run.segment &&
      line.start === run.end &&
      run.end - run.start < MAX_RUN_BYTES
    ) {
      run.end = line.end;
      return true;
    }
    const flushed = this.flush();
    if (typeof line === 'string') {
      return this.stream.write(line) && flushed;
    }
    this.run = { ...line };
    return flushed;
  }

  end(): void {
    this.flush();
    this.stream.end();
  }

  /** Writes the pending run; returns false when the stream asks to wait for 'drain'. */
  flush(): boolean {
    const run = this.run;
    this.run = null;
    return run ? this.stream.write(Buffer.from(run.segment.subarray(run.start, run.end))) : true;
  }
}

function sliceLine(segments: Map<string, Buffer>, record: LineRecord): SegmentSlice {
  const segment = segments.get(record.segment) as Buffer;
  return { segment, start: record.byteOffset, end: record.byteOffset + record.byteLength };
}
