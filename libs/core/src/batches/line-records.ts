import type { BatchLineResultEntity } from './batch-line-result.entity';

/** Where one answered line's result lies. */
export type LineRecord = Pick<
  BatchLineResultEntity,
  'lineNumber' | 'outcome' | 'segment' | 'byteOffset' | 'byteLength' | 'sequence'
>;

/** The records of one segment within a range of lines, a column per field, as PostgreSQL aggregates them. */
export interface SegmentRecords {
  segment: string;
  line_numbers: number[];
  succeeded: boolean[];
  byte_offsets: number[];
  byte_lengths: number[];
  sequences: number[];
}

/**
 * The journal's records of a range of lines: the columns of each segment as read, and where each line's entry
 * lies in them. Columns rather than an object per line: the finalizer loads ranges ahead of the one it writes,
 * long enough for V8 to promote such objects, which then stay until the next full collection.
 */
export class LineRecords implements Iterable<LineRecord> {
  /** By line (its number less `firstLine`): the index of its segment in `segments`, -1 for a line without record. */
  private readonly segmentIndex: Int32Array;
  /** By line: where its entry lies in its segment's columns. */
  private readonly entryIndex: Int32Array;

  constructor(
    private readonly firstLine: number,
    lastLine: number,
    private readonly segments: readonly SegmentRecords[],
  ) {
    const span = Math.max(0, lastLine - firstLine + 1);
    this.segmentIndex = new Int32Array(span).fill(-1);
    this.entryIndex = new Int32Array(span);
    segments.forEach((records, s) => {
      records.line_numbers.forEach((lineNumber, i) => {
        this.segmentIndex[lineNumber - firstLine] = s;
        this.entryIndex[lineNumber - firstLine] = i;
      });
    });
  }

  /** The segments the records point into. */
  get segmentNames(): string[] {
    return this.segments.map((records) => records.segment);
  }

  /** The record of a line; undefined for a line without one (or outside the range). */
  get(lineNumber: number): LineRecord | undefined {
    const at = lineNumber - this.firstLine;
    const s = at >= 0 && at < this.segmentIndex.length ? this.segmentIndex[at] : -1;
    if (s < 0) {
      return undefined;
    }
    const records = this.segments[s];
    const i = this.entryIndex[at];
    return {
      lineNumber,
      outcome: records.succeeded[i] ? 'succeeded' : 'failed',
      segment: records.segment,
      byteOffset: records.byte_offsets[i],
      byteLength: records.byte_lengths[i],
      sequence: records.sequences[i],
    };
  }

  /** The records in line order. */
  *[Symbol.iterator](): Iterator<LineRecord> {
    for (let at = 0; at < this.segmentIndex.length; at++) {
      if (this.segmentIndex[at] >= 0) {
        yield this.get(this.firstLine + at) as LineRecord;
      }
    }
  }
}
