import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Readable } from 'node:stream';
import { MoreThan, Repository } from 'typeorm';
import {
  AppError,
  BatchEntity,
  BatchLineResultEntity,
  type BatchStatus,
  ErrorCode,
  FileStorage,
  isTerminal,
  readLines,
  segmentKey,
  StoredObjectMissingError,
} from '@app/core';
import { FilesService } from '../files/files.service';
import { BatchesService } from './batches.service';

/** The largest journal sequence (a PostgreSQL integer). */
const MAX_CURSOR = 2_147_483_647;
/** Segment reads one answer opens before it starts: bounds the open streams whatever the limit. */
const MAX_SEGMENT_READS = 64;
/** Result lines were written by the worker; this only bounds what one line may hold in memory. */
const RESULT_LINE_CAP_BYTES = 1024 * 1024 * 1024;

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
 * JournalStore.record), so one batch's groups commit one after the other in sequence order: a reader that sees
 * sequence n sees every record below n, and "records above the cursor, in sequence order" misses none and
 * repeats none. When the batch ends, the finalizer keeps, in the same transaction that registers the output
 * and error files, the sequence of every line it wrote (`batches.result_sequence`; lines not executed get
 * sequences above every journaled one), and then the journal is purged. After the end the reader serves the
 * lines of the two files whose sequence is above the cursor: a line seen in the journal keeps its sequence
 * (and its bytes, `id` included) in the files, so the hand-over neither repeats nor drops a line.
 */
@Injectable()
export class BatchResultsService {
  constructor(
    @InjectRepository(BatchEntity) private readonly batchRows: Repository<BatchEntity>,
    @InjectRepository(BatchLineResultEntity) private readonly records: Repository<BatchLineResultEntity>,
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
    const records = await this.records.find({
      where: { batchId: batch.id, sequence: MoreThan(after) },
      order: { sequence: 'ASC' },
      take: limit,
    });
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
    const row = await this.batchRows
      .createQueryBuilder('b')
      .select('b.result_sequence', 'sequence')
      .where('b.id = :id', { id: batch.id })
      .getRawOne<{ sequence: number[] | null }>();
    const sequence = row?.sequence ?? [];
    const pending = sequence
      .map(Math.abs)
      .filter((s) => s > after)
      .sort((a, b) => a - b);
    if (pending.length === 0) {
      return { status: batch.status, nextCursor: after, complete: true, lines: Readable.from([]) };
    }
    const upTo = pending[Math.min(limit, pending.length) - 1];
    const wanted = (s: number) => Math.abs(s) > after && Math.abs(s) <= upTo;
    const output = sequence.some((s) => s > 0 && wanted(s))
      ? await this.openResultFile(batch, batch.outputFileId)
      : null;
    const error = sequence.some((s) => s < 0 && wanted(s)) ? await this.openResultFile(batch, batch.errorFileId) : null;
    return {
      status: batch.status,
      nextCursor: upTo,
      complete: upTo === pending[pending.length - 1],
      lines: Readable.from(selectedLines(sequence, wanted, output, error)),
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

/**
 * Walks the two files side by side in the order the finalizer wrote them (the entries of `sequence`: positive
 * for the next output line, negative for the next error line) and yields the wanted lines.
 */
async function* selectedLines(
  sequence: number[],
  wanted: (s: number) => boolean,
  output: Readable | null,
  error: Readable | null,
): AsyncGenerator<Buffer> {
  const last = sequence.findLastIndex(wanted);
  const outputLines = output ? readLines(output, RESULT_LINE_CAP_BYTES) : null;
  const errorLines = error ? readLines(error, RESULT_LINE_CAP_BYTES) : null;
  try {
    for (let i = 0; i <= last; i++) {
      const lines = sequence[i] > 0 ? outputLines : errorLines;
      const line = lines ? await lines.next() : null;
      if (wanted(sequence[i]) && line && !line.done) {
        yield Buffer.concat([line.value.bytes, Buffer.from('\n')]);
      }
    }
  } finally {
    output?.destroy();
    error?.destroy();
  }
}
