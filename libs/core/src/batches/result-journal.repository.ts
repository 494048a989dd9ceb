import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { int32ArrayLiteral, plainArrayLiteral } from '../database/array-literals';
import { ANSWERING_STATUSES, TERMINAL_STATUSES } from './batch-status';
import type { LineOutcome } from './batch-line-result.entity';
import { type LineRecord, LineRecords, type SegmentRecords } from './line-records';
import { ResultSequence } from './result-sequence';

/**
 * A group of lines about to be recorded, a column per field (entry i of each is the group's line i): where each
 * lies in the group's segment, and what it used. Columns rather than an object per line: the group waits for its
 * statement long enough for V8 to promote such objects, to stay until the next full collection.
 */
export interface JournalColumns {
  lineNumber: Int32Array;
  outcome: readonly LineOutcome[];
  byteOffset: Int32Array;
  byteLength: Int32Array;
  inputTokens: Int32Array;
  cachedTokens: Int32Array;
  outputTokens: Int32Array;
  reasoningTokens: Int32Array;
}

/** What one recorded group added to its batch: its newly recorded lines only. */
export interface RecordedTotals {
  completed: number;
  failed: number;
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  reasoningTokens: number;
}

/** What an ended batch keeps in storage: its registered output and error files. */
export interface EndedBatchFiles {
  workspaceId: string;
  keep: string[];
}

interface RecordRow {
  line_number: number;
  outcome: LineRecord['outcome'];
  segment: string;
  byte_offset: number;
  byte_length: number;
  sequence: number;
}

const LINE_RECORD = `line_number, outcome, segment, byte_offset, byte_length, sequence`;

const lineRecordOf = (row: RecordRow): LineRecord => ({
  lineNumber: row.line_number,
  outcome: row.outcome,
  segment: row.segment,
  byteOffset: row.byte_offset,
  byteLength: row.byte_length,
  sequence: row.sequence,
});

/**
 * The result journal (table batch_line_results, one small record per answered line pointing into a storage
 * segment) and, once the batch ends, the order of its result files' lines (`batches.result_sequence`, see
 * ResultSequence): the worker writes both, `GET /v1/batches/{id}/results` reads both.
 */
@Injectable()
export class ResultJournalRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Records a group of lines stored in `segment` and adds their counts and usage to the batch, in one statement.
   * Lines already recorded (a re-sent line after a crash) are ignored, so nothing is counted twice. Records
   * nothing once the batch no longer takes answers or a finalizer has taken it over. `fromProvider`: the lines
   * come from a provider batch whose reported counts `batches.provider_*` still show, so they leave those counts
   * as they join the journal's.
   *
   * Sequences come from the batch's counter, read from the row this statement locks: the batch's groups record
   * one after the other, so sequences commit in increasing order (what the results reader relies on).
   */
  async record(
    batchId: string,
    segment: string,
    lines: JournalColumns,
    fromProvider: boolean,
  ): Promise<RecordedTotals> {
    const [totals] = await this.dataSource.query<RecordedTotals[]>(
      `WITH running AS (
         SELECT id, results_recorded FROM batches
         WHERE id = $1 AND status = ANY($12) AND finalizer_token IS NULL
         FOR UPDATE
       ), inserted AS (
         INSERT INTO batch_line_results
           (batch_id, line_number, outcome, segment, byte_offset, byte_length,
            input_tokens, cached_tokens, output_tokens, reasoning_tokens, sequence)
         SELECT $1, t.line_number, t.outcome, $2, t.byte_offset, t.byte_length,
                t.input_tokens, t.cached_tokens, t.output_tokens, t.reasoning_tokens, r.results_recorded + t.ordinal
         FROM running r,
           unnest($3::int[], $4::varchar[], $5::int[], $6::int[], $7::int[], $8::int[], $9::int[], $10::int[])
             WITH ORDINALITY
             AS t(line_number, outcome, byte_offset, byte_length, input_tokens, cached_tokens, output_tokens,
                  reasoning_tokens, ordinal)
         ON CONFLICT (batch_id, line_number) DO NOTHING
         RETURNING outcome, input_tokens, cached_tokens, output_tokens, reasoning_tokens, sequence
       ), totals AS (
         SELECT coalesce(max(sequence), 0) AS last_sequence,
                count(*) FILTER (WHERE outcome = 'succeeded') AS completed,
                count(*) FILTER (WHERE outcome = 'failed') AS failed,
                coalesce(sum(input_tokens), 0) AS input_tokens,
                coalesce(sum(cached_tokens), 0) AS cached_tokens,
                coalesce(sum(output_tokens), 0) AS output_tokens,
                coalesce(sum(reasoning_tokens), 0) AS reasoning_tokens
         FROM inserted
       ), counted AS (
         UPDATE batches b SET
           request_completed = b.request_completed + t.completed,
           request_failed = b.request_failed + t.failed,
           provider_completed = CASE WHEN $11 THEN greatest(b.provider_completed - t.completed, 0)
                                     ELSE b.provider_completed END,
           provider_failed = CASE WHEN $11 THEN greatest(b.provider_failed - t.failed, 0) ELSE b.provider_failed END,
           input_tokens = b.input_tokens + t.input_tokens,
           cached_tokens = b.cached_tokens + t.cached_tokens,
           output_tokens = b.output_tokens + t.output_tokens,
           reasoning_tokens = b.reasoning_tokens + t.reasoning_tokens,
           results_recorded = t.last_sequence
         FROM totals t
         WHERE b.id = $1 AND t.completed + t.failed > 0
       )
       SELECT completed::int, failed::int, input_tokens::float8 AS "inputTokens", cached_tokens::float8 AS "cachedTokens",
              output_tokens::float8 AS "outputTokens", reasoning_tokens::float8 AS "reasoningTokens"
       FROM totals`,
      [
        batchId,
        segment,
        plainArrayLiteral(lines.lineNumber),
        plainArrayLiteral(lines.outcome),
        plainArrayLiteral(lines.byteOffset),
        plainArrayLiteral(lines.byteLength),
        plainArrayLiteral(lines.inputTokens),
        plainArrayLiteral(lines.cachedTokens),
        plainArrayLiteral(lines.outputTokens),
        plainArrayLiteral(lines.reasoningTokens),
        fromProvider,
        ANSWERING_STATUSES,
      ],
    );
    return totals;
  }

  /** The recorded lines among `firstLine..lastLine`. */
  async answeredLines(batchId: string, firstLine: number, lastLine: number): Promise<Set<number>> {
    const rows = await this.dataSource.query<{ line_number: number }[]>(
      `SELECT line_number FROM batch_line_results WHERE batch_id = $1 AND line_number BETWEEN $2 AND $3`,
      [batchId, firstLine, lastLine],
    );
    return new Set(rows.map((row) => row.line_number));
  }

  /**
   * Where the answers of lines `firstLine..lastLine` lie: a row per segment, its columns aggregated by PostgreSQL
   * (finalize reads every line of a batch, and a row per line costs the worker objects it would keep for a while).
   */
  async recordsBetween(batchId: string, firstLine: number, lastLine: number): Promise<LineRecords> {
    const rows = await this.dataSource.query<SegmentRecords[]>(
      `SELECT segment,
              array_agg(line_number ORDER BY line_number) AS line_numbers,
              array_agg(outcome = 'succeeded' ORDER BY line_number) AS succeeded,
              array_agg(byte_offset ORDER BY line_number) AS byte_offsets,
              array_agg(byte_length ORDER BY line_number) AS byte_lengths,
              array_agg(sequence ORDER BY line_number) AS sequences
         FROM batch_line_results
         WHERE batch_id = $1 AND line_number BETWEEN $2 AND $3
         GROUP BY segment`,
      [batchId, firstLine, lastLine],
    );
    return new LineRecords(firstLine, lastLine, rows);
  }

  /** The first `limit` records above sequence `after`, in sequence order (commit order). */
  async recordsAfter(batchId: string, after: number, limit: number): Promise<LineRecord[]> {
    const rows = await this.dataSource.query<RecordRow[]>(
      `SELECT ${LINE_RECORD} FROM batch_line_results
         WHERE batch_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3`,
      [batchId, after, limit],
    );
    return rows.map(lineRecordOf);
  }

  /** How many lines of the batch the journal holds, and the last of them (0 when none). */
  async recordedExtent(batchId: string): Promise<{ count: number; lastLine: number }> {
    const [row] = await this.dataSource.query<{ count: number; lastLine: number }[]>(
      `SELECT count(*)::int AS count, coalesce(max(line_number), 0)::int AS "lastLine"
         FROM batch_line_results WHERE batch_id = $1`,
      [batchId],
    );
    return row;
  }

  /** Ended batches whose journal is still there (a crash came between their final commit and its purge). */
  async endedWithJournal(limit: number): Promise<string[]> {
    const rows = await this.dataSource.query<{ batch_id: string }[]>(
      `SELECT DISTINCT r.batch_id FROM batch_line_results r JOIN batches b ON b.id = r.batch_id
       WHERE b.status = ANY($1) LIMIT $2`,
      [TERMINAL_STATUSES, limit],
    );
    return rows.map((row) => row.batch_id);
  }

  /** The storage keys an ended batch keeps (its registered output and error files); null while it has not ended. */
  async endedBatchFiles(batchId: string): Promise<EndedBatchFiles | null> {
    const rows = await this.dataSource.query<{ workspace_id: string; keep: string[] }[]>(
      `SELECT b.workspace_id, array_remove(ARRAY[o.storage_key, e.storage_key], NULL) AS keep
       FROM batches b
       LEFT JOIN files o ON o.id = b.output_file_id
       LEFT JOIN files e ON e.id = b.error_file_id
       WHERE b.id = $1 AND b.status = ANY($2)`,
      [batchId, TERMINAL_STATUSES],
    );
    return rows.length === 0 ? null : { workspaceId: rows[0].workspace_id, keep: rows[0].keep };
  }

  async deleteRecords(batchId: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM batch_line_results WHERE batch_id = $1`, [batchId]);
  }

  /** Keeps the order of the result files' lines, in the transaction that registers the files. */
  async keepResultSequence(batchId: string, sequence: ResultSequence, manager: EntityManager): Promise<void> {
    await manager.query(`UPDATE batches SET result_sequence = $2::text::int[] WHERE id = $1`, [
      batchId,
      int32ArrayLiteral(sequence.entries),
    ]);
  }

  /** The order of the result files' lines; empty before the batch has ended. */
  async resultSequence(batchId: string): Promise<ResultSequence> {
    const rows = await this.dataSource.query<{ result_sequence: number[] | null }[]>(
      `SELECT result_sequence FROM batches WHERE id = $1`,
      [batchId],
    );
    return new ResultSequence(rows[0]?.result_sequence ?? []);
  }
}
