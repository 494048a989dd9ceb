import type { Readable } from 'node:stream';
import { readLines } from '../jsonl/line-splitter';
import { Int32List } from './int32-list';

/** Which of a batch's two result files a line was written to. */
export type ResultFile = 'output' | 'error';

/** Result lines were written by the worker; this only bounds what one line may hold in memory. */
const RESULT_LINE_CAP_BYTES = 1024 * 1024 * 1024;

/** The result lines after a cursor, at most a limit of them: what one `GET /v1/batches/{id}/results` serves. */
export interface ResultPage {
  after: number;
  /** The cursor after this page (equal to `after` when the page is empty). */
  upTo: number;
  /** No line is left after this page. */
  complete: boolean;
  /** Whether the page has lines in each file: only those files need opening. */
  reads: Record<ResultFile, boolean>;
}

/**
 * The order of a batch's result lines (`batches.result_sequence`): kept by the finalizer with the output and
 * error files, read by `GET /v1/batches/{id}/results` once the journal is purged. One entry per written line,
 * in the order written (input order): the line's journal sequence, positive for a line of the output file,
 * negative for a line of the error file. A line seen in the journal keeps its sequence, so a reader's cursor
 * carries over from the journal to the files without repeating or dropping a line.
 */
export class ResultSequence {
  readonly entries: Int32Array;

  constructor(entries: ArrayLike<number>) {
    this.entries = entries instanceof Int32Array ? entries : Int32Array.from(entries);
  }

  /** The lines above `after`, the `limit` lowest sequences of them. */
  page(after: number, limit: number): ResultPage {
    const pending = this.entries
      .map(Math.abs)
      .filter((s) => s > after)
      .sort((a, b) => a - b);
    if (pending.length === 0) {
      return { after, upTo: after, complete: true, reads: { output: false, error: false } };
    }
    const upTo = pending[Math.min(limit, pending.length) - 1];
    const page = { after, upTo, complete: upTo === pending[pending.length - 1] };
    const wanted = inPage(page);
    return {
      ...page,
      reads: {
        output: this.entries.some((s) => s > 0 && wanted(s)),
        error: this.entries.some((s) => s < 0 && wanted(s)),
      },
    };
  }

  /**
   * The page's lines, each with its newline, exactly as in the files: walks the two files side by side in the
   * order they were written. A file given as null (deleted, expired) contributes nothing.
   */
  async *lines(page: ResultPage, output: Readable | null, error: Readable | null): AsyncGenerator<Buffer> {
    const wanted = inPage(page);
    const last = this.entries.findLastIndex(wanted);
    const outputLines = output ? readLines(output, RESULT_LINE_CAP_BYTES) : null;
    const errorLines = error ? readLines(error, RESULT_LINE_CAP_BYTES) : null;
    try {
      for (let i = 0; i <= last; i++) {
        const lines = this.entries[i] > 0 ? outputLines : errorLines;
        const line = lines ? await lines.next() : null;
        if (wanted(this.entries[i]) && line && !line.done) {
          yield Buffer.concat([line.value.bytes, Buffer.from('\n')]);
        }
      }
    } finally {
      output?.destroy();
      error?.destroy();
    }
  }
}

const inPage =
  ({ after, upTo }: Pick<ResultPage, 'after' | 'upTo'>) =>
  (s: number): boolean =>
    Math.abs(s) > after && Math.abs(s) <= upTo;

/**
 * Builds a ResultSequence as the finalizer writes the lines. A line not executed has no journal record: it
 * gets a sequence after every journaled one, in input order, so a reader that has seen all journal records up
 * to some sequence receives it exactly once after the batch ends.
 */
export class ResultSequenceBuilder {
  private readonly entries = new Int32List();
  private readonly unrecorded = new Int32List();
  private lastRecorded = 0;

  /** The next line written, to `file`; `recorded` is its journal sequence, null for a line not executed. */
  add(file: ResultFile, recorded: number | null): void {
    const sign = file === 'output' ? 1 : -1;
    if (recorded === null) {
      this.unrecorded.push(this.entries.length);
      this.entries.push(sign);
    } else {
      this.lastRecorded = Math.max(this.lastRecorded, recorded);
      this.entries.push(sign * recorded);
    }
  }

  build(): ResultSequence {
    const entries = this.entries.view().slice();
    this.unrecorded.view().forEach((index, i) => (entries[index] *= this.lastRecorded + i + 1));
    return new ResultSequence(entries);
  }
}
