import { Injectable } from '@nestjs/common';
import {
  type BatchKeyOwner,
  batchStoragePrefix,
  FileStorage,
  type JournalColumns,
  type LineOutcome,
  ResultJournalRepository,
  segmentKey,
} from '@app/core';
import { BufferPool } from '../../infrastructure/buffer-pool';
import { TextBuffer } from '../../infrastructure/text-buffer';
import { WorkerMetrics } from '../../monitoring/worker-metrics';
import type { LineResult } from './line-result';

/** A group's lines written to storage, not yet recorded: where each line stands in its segment. */
export interface StoredSegment {
  segment: string;
  lines: JournalColumns;
}

type NumberColumn = Exclude<keyof JournalColumns, 'outcome'>;

const NUMBER_COLUMNS: readonly NumberColumn[] = [
  'lineNumber',
  'byteOffset',
  'byteLength',
  'inputTokens',
  'cachedTokens',
  'outputTokens',
  'reasoningTokens',
];

/**
 * A group's segment, each line encoded into it as it is added, and the line's record kept as columns: the line's
 * text can then die young (a group waits for its statement long enough for V8 to move what it holds into the old
 * generation, to stay there until the next full collection), and the bytes wait outside the heap.
 */
export class SegmentDraft {
  private readonly content: TextBuffer;
  private columns: Record<NumberColumn, Int32Array>;
  private readonly outcomes: LineOutcome[] = [];

  constructor(capacity: number, lineCapacity = 16, pool?: BufferPool) {
    this.content = new TextBuffer(capacity, pool);
    this.columns = columnsOf(Math.max(1, lineCapacity));
  }

  /** Bytes of the lines so far, newlines included. */
  get bytes(): number {
    return this.content.length;
  }

  /** Lines so far. */
  get count(): number {
    return this.outcomes.length;
  }

  add(result: LineResult): void {
    const offset = this.content.length;
    const length = this.content.append(result.line) + this.content.append('\n');
    const row = this.outcomes.length;
    if (row === this.columns.lineNumber.length) {
      const grown = columnsOf(2 * row);
      NUMBER_COLUMNS.forEach((name) => grown[name].set(this.columns[name]));
      this.columns = grown;
    }
    const { columns } = this;
    columns.lineNumber[row] = result.lineNumber;
    columns.byteOffset[row] = offset;
    columns.byteLength[row] = length;
    columns.inputTokens[row] = result.usage.inputTokens;
    columns.cachedTokens[row] = result.usage.cachedTokens;
    columns.outputTokens[row] = result.usage.outputTokens;
    columns.reasoningTokens[row] = result.usage.reasoningTokens;
    this.outcomes.push(result.outcome);
  }

  /** The segment's bytes (valid until `release()`). */
  segment(): Buffer {
    return this.content.bytes();
  }

  /** Once the group is recorded: its buffer goes back to the pool it came from. */
  release(): void {
    this.content.release();
  }

  /** The lines' records, as many entries in each column as lines. */
  lines(): JournalColumns {
    const count = this.outcomes.length;
    const view = (name: NumberColumn) => this.columns[name].subarray(0, count);
    return {
      lineNumber: view('lineNumber'),
      outcome: this.outcomes,
      byteOffset: view('byteOffset'),
      byteLength: view('byteLength'),
      inputTokens: view('inputTokens'),
      cachedTokens: view('cachedTokens'),
      outputTokens: view('outputTokens'),
      reasoningTokens: view('reasoningTokens'),
    };
  }
}

const columnsOf = (capacity: number): Record<NumberColumn, Int32Array> =>
  Object.fromEntries(NUMBER_COLUMNS.map((name) => [name, new Int32Array(capacity)])) as Record<
    NumberColumn,
    Int32Array
  >;

/** Segment buffers kept idle for the next groups: a few of a copy's groups (a group holds at most 8 MiB). */
const SEGMENT_BUFFERS_IDLE_BYTES = 16 * 1024 * 1024;

/**
 * The result journal's storage: result lines go to storage segments, one per recorded group, and
 * PostgreSQL keeps one small record per line pointing into its segment (ResultJournalRepository).
 * Recording a group also adds the group's counts and usage to the batch once.
 */
@Injectable()
export class JournalStore {
  /** Segment buffers, reused from group to group across the process's journals. */
  private readonly segmentBuffers = new BufferPool(SEGMENT_BUFFERS_IDLE_BYTES);

  constructor(
    private readonly records: ResultJournalRepository,
    private readonly storage: FileStorage,
    private readonly metrics: WorkerMetrics,
  ) {}

  /** A new group: `capacity` bytes of lines and `lineCapacity` records before it grows. */
  draft(capacity: number, lineCapacity: number): SegmentDraft {
    return new SegmentDraft(capacity, lineCapacity, this.segmentBuffers);
  }

  /** Writes a group's segment to storage as `segment`; nothing counts until the segment is committed. */
  async store(batch: BatchKeyOwner, segment: string, draft: SegmentDraft): Promise<StoredSegment> {
    await this.storage.put(segmentKey(batch, segment), draft.segment());
    return { segment, lines: draft.lines() };
  }

  /**
   * Records a stored segment's lines. Lines already recorded (a re-sent line after a crash) are ignored, so nothing
   * is counted twice; repeating the call is harmless. Records nothing once the batch is no longer running or a finalizer has taken
   * it over. Returns how many lines were newly recorded; those, and their tokens, are counted in the metrics here.
   * `fromProvider`: the lines come from a provider batch whose reported counts `batches.provider_*` still
   * show, so they leave those counts as they join the journal's (request_counts neither doubles nor dips).
   */
  async commit(batch: BatchKeyOwner, stored: StoredSegment, fromProvider = false): Promise<number> {
    const totals = await this.records.record(batch.id, stored.segment, stored.lines, fromProvider);
    this.metrics.recorded(batch.workspaceId, totals.completed, totals.failed, {
      input: totals.inputTokens,
      cached: totals.cachedTokens,
      output: totals.outputTokens,
      reasoning: totals.reasoningTokens,
    });
    return totals.completed + totals.failed;
  }

  /**
   * A whole segment (at most a group's bytes), in one read, into a buffer lent by the segment pool: hand it back
   * with `releaseSegment` once nothing reads its bytes any more.
   */
  readSegment(batch: BatchKeyOwner, segment: string): Promise<Buffer> {
    return this.storage.get(segmentKey(batch, segment), (bytes) => this.segmentBuffers.take(bytes));
  }

  /** Takes back a segment read by `readSegment`, for later groups and reads. */
  releaseSegment(bytes: Buffer): void {
    // The pool's buffers each own their memory: the whole of it goes back, not just the segment's view.
    this.segmentBuffers.give(Buffer.from(bytes.buffer));
  }

  /**
   * Once a batch has ended: drops every stored object under its prefix except its registered output
   * and error files (journal segments, files of runs that did not commit, unfinished writes of
   * crashed runs), then its journal records. Repeating it is harmless.
   */
  async purgeFinished(batchId: string): Promise<void> {
    const ended = await this.records.endedBatchFiles(batchId);
    if (!ended) {
      return;
    }
    const keep = new Set(ended.keep);
    for await (const key of this.storage.list(batchStoragePrefix({ id: batchId, workspaceId: ended.workspaceId }))) {
      if (!keep.has(key)) {
        await this.storage.delete(key);
      }
    }
    await this.records.deleteRecords(batchId);
  }
}
