import { Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';
import {
  AppError,
  type BatchEntity,
  type BatchStatus,
  ErrorCode,
  FileStorage,
  isTerminal,
  ResultJournalRepository,
  segmentKey,
  StoredObjectMissingError,
} from '@app/core';
import { FilesService } from '../files/files.service';
import { BatchesService } from './batches.service';

/** The largest journal sequence (a PostgreSQL integer). */
const MAX_CURSOR = 2_147_483_647;
/** Segment reads one answer opens before it starts: bounds the open streams whatever the limit. */
const MAX_SEGMENT_READS = 64;

export interface ResultsPage {
  status: BatchStatus;
  /** What the client sends as `after` next time. */
  nextCursor: number;
  /** The batch has ended and every result line up to `nextCursor` is in this answer or an earlier one. */
  complete: boolean;
  /** The result lines, each with its newline, exactly as in the output and error files. */
  lines: Readable;
}

/** A stretch of consecutive journal records in one segment: one ranged read. */
interface SegmentRun {
  segment: string;
  start: number;
  end: number;
}

/**
 * Partial results of a batch, with a cursor that hands every result line over exactly once, while the batch
 * runs and after it ends.
 *
 * The cursor is a journal sequence. While the batch runs, each recorded group of answers takes the next
 * sequences from a per-batch counter in the same statement that locks the batch row (the worker's
 * ResultJournalRepository.record), so one batch's groups commit one after the other in sequence order: a reader
 * that sees sequence n sees every record below n, and "records above the cursor, in sequence order" misses none
 * and repeats none. When the batch ends, the finalizer keeps, in the same transaction that registers the output
 * and error files, the sequence of every line it wrote (ResultSequence), and then the journal is purged. After
 * the end the reader serves the lines of the two files whose sequence is above the cursor: a line seen in the
 * journal keeps its sequence (and its bytes, `id` included) in the files, so the hand-over neither repeats nor
 * drops a line.
 */
@Injectable()
export class BatchResultsService {
  constructor(
    private readonly journal: ResultJournalRepository,
    private readonly batches: BatchesService,
    private readonly files: FilesService,
    private readonly storage: FileStorage,
  ) {}

  async read(
    workspaceId: string,
    batchId: string,
    afterParam: string | undefined,
    limit: number,
  ): Promise<ResultsPage> {
    const after = Number(afterParam ?? '0');
    if (after > MAX_CURSOR) {
      throw new AppError(
        ErrorCode.InvalidRequest,
        "Invalid 'after': expected the x-next-cursor value of a previous answer.",
        'after',
      );
    }
    const batch = await this.batches.get(workspaceId, batchId);
    if (isTerminal(batch.status)) {
      return this.fromResultFiles(batch, after, limit);
    }
    const fromJournal = await this.fromJournal(batch, after, limit);
    if (fromJournal) {
      return fromJournal;
    }
    // The batch ended and its journal was purged between our reads: its files hold everything now.
    return this.fromResultFiles(await this.batches.get(workspaceId, batchId), after, limit);
  }

  /** Records above the cursor in sequence order; null when a segment is gone (the batch ended meanwhile). */
  private async fromJournal(batch: BatchEntity, after: number, limit: number): Promise<ResultsPage | null> {
    const records = await this.journal.recordsAfter(batch.id, after, limit);
    const runs: SegmentRun[] = [];
    let nextCursor = after;
    for (const record of records) {
      const last = runs.at(-1);
      if (last?.segment === record.segment && last.end === record.byteOffset) {
        last.end += record.byteLength;
      } else if (runs.length < MAX_SEGMENT_READS) {
        runs.push({ segment: record.segment, start: record.byteOffset, end: record.byteOffset + record.byteLength });
      } else {
        break;
      }
      nextCursor = record.sequence;
    }
    // Opened before the answer starts, so a purge that deletes a segment now still leaves a clean fallback.
    const opened: Readable[] = [];
    try {
      for (const run of runs) {
        opened.push(await this.storage.read(segmentKey(batch, run.segment), { start: run.start, end: run.end }));
      }
    } catch (error) {
      opened.forEach((stream) => stream.destroy());
      if (error instanceof StoredObjectMissingError) {
        return null;
      }
      throw error;
    }
    return { status: batch.status, nextCursor, complete: false, lines: concatenated(opened) };
  }

  /** The lines of the output and error files whose sequence is above the cursor, at most `limit` of them. */
  private async fromResultFiles(batch: BatchEntity, after: number, limit: number): Promise<ResultsPage> {
    const sequence = await this.journal.resultSequence(batch.id);
    const page = sequence.page(after, limit);
    const output = page.reads.output ? await this.openResultFile(batch, batch.outputFileId) : null;
    const error = page.reads.error ? await this.openResultFile(batch, batch.errorFileId) : null;
    return {
      status: batch.status,
      nextCursor: page.upTo,
      complete: page.complete,
      lines: Readable.from(sequence.lines(page, output, error)),
    };
  }

  /** A result file's content, or null if it was deleted or has expired (its lines can no longer be served). */
  private async openResultFile(batch: BatchEntity, fileId: string | null): Promise<Readable | null> {
    if (!fileId) {
      return null;
    }
    try {
      return (await this.files.openContent(batch.workspaceId, fileId)).content;
    } catch (error) {
      if (error instanceof AppError && error.code === ErrorCode.FileNotFound) {
        return null;
      }
      throw error;
    }
  }
}

/** The streams one after the other; those not reached are destroyed if the reader goes away. */
function concatenated(streams: Readable[]): Readable {
  // A stream not reached yet has no reader to hear its error: it is kept, and thrown when the chain reaches it.
  streams.forEach((stream) => stream.on('error', () => undefined));
  async function* chain() {
    let next = 0;
    try {
      for (; next < streams.length; next++) {
        yield* streams[next];
      }
    } finally {
      streams.slice(next).forEach((stream) => stream.destroy());
    }
  }
  return Readable.from(chain());
}
