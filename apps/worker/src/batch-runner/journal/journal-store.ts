import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { buffer } from 'node:stream/consumers';
import { DataSource } from 'typeorm';
import {
  type BatchKeyOwner,
  type BatchLineResultEntity,
  batchStoragePrefix,
  FileStorage,
  type LineOutcome,
  segmentKey,
} from '@app/core';
import { WorkerMetrics } from '../../monitoring/worker-metrics';
import type { LineResult } from './line-result';

/** Where one answered line's result lies. */
export type LineRecord = Pick<
  BatchLineResultEntity,
  'lineNumber' | 'outcome' | 'segment' | 'byteOffset' | 'byteLength' | 'sequence'
>;

/** What one recorded group added to its batch (token sums as float8: pg hands bigint sums over as strings). */
interface RecordedTotals {
  completed: number;
  failed: number;
  input_tokens: number;
  cached_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
}

/**
 * The result journal's storage: result lines go to storage segments, one per recorded group, and
 * PostgreSQL keeps one small record per line pointing into its segment. Recording a group is one
 * statement that also adds the group's counts and usage to the batch once.
 */
@Injectable()
export class JournalStore {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly storage: FileStorage,
    private readonly metrics: WorkerMetrics,
  ) {}

  /**
   * Stores `group` in segment `segment` and records its lines. Lines already recorded (a re-sent
   * line after a crash) are ignored, so nothing is counted twice; repeating the call is harmless.
   * Records nothing once the batch is no longer running or a finalizer has taken it over.
   * Returns how many lines were newly recorded; those, and their tokens, are counted in the metrics here.
   * `fromProvider`: the lines come from a provider batch whose reported counts `batches.provider_*` still
   * show, so they leave those counts as they join the journal's (request_counts neither doubles nor dips).
   */
  async record(
    batch: BatchKeyOwner,
    segment: string,
    group: readonly LineResult[],
    fromProvider = false,
  ): Promise<number> {
    const lines = group.map((result) => Buffer.from(`${result.line}\n`));
    const offsets: number[] = [];
    let offset = 0;
    for (const line of lines) {
      offsets.push(offset);
      offset += line.length;
    }
    await this.storage.put(segmentKey(batch, segment), Buffer.concat(lines, offset));
    // Sequences come from the batch's counter, read from the row this statement locks: the batch's groups
    // record one after the other, so sequences commit in increasing order (what the results reader relies on).
    const rows: RecordedTotals[] = await this.dataSource.query(
      `WITH running AS (
         SELECT id, results_recorded FROM batches
         WHERE id = $1 AND status IN ('in_progress', 'cancelling') AND finalizer_token IS NULL
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
       SELECT completed::int, failed::int, input_tokens::float8, cached_tokens::float8, output_tokens::float8,
              reasoning_tokens::float8
       FROM totals`,
      [
        batch.id,
        segment,
        group.map((r) => r.lineNumber),
        group.map((r) => r.outcome),
        offsets,
        lines.map((line) => line.length),
        group.map((r) => r.usage.inputTokens),
        group.map((r) => r.usage.cachedTokens),
        group.map((r) => r.usage.outputTokens),
        group.map((r) => r.usage.reasoningTokens),
        fromProvider,
      ],
    );
    const totals = rows[0];
    this.metrics.recorded(batch.workspaceId, totals.completed, totals.failed, {
      input: totals.input_tokens,
      cached: totals.cached_tokens,
      output: totals.output_tokens,
      reasoning: totals.reasoning_tokens,
    });
    return totals.completed + totals.failed;
  }

  async answeredLines(batchId: string, firstLine: number, lastLine: number): Promise<Set<number>> {
    const rows: { line_number: number }[] = await this.dataSource.query(
      `SELECT line_number FROM batch_line_results WHERE batch_id = $1 AND line_number BETWEEN $2 AND $3`,
      [batchId, firstLine, lastLine],
    );
    return new Set(rows.map((row) => row.line_number));
  }

  /** Where the answers of lines `firstLine..lastLine` lie, in line order (plain rows: finalize reads every line of a batch). */
  async recordsBetween(batchId: string, firstLine: number, lastLine: number): Promise<LineRecord[]> {
    const rows: {
      line_number: number;
      outcome: LineOutcome;
      segment: string;
      byte_offset: number;
      byte_length: number;
      sequence: number;
    }[] = await this.dataSource.query(
      `SELECT line_number, outcome, segment, byte_offset, byte_length, sequence FROM batch_line_results
         WHERE batch_id = $1 AND line_number BETWEEN $2 AND $3 ORDER BY line_number`,
      [batchId, firstLine, lastLine],
    );
    return rows.map((row) => ({
      lineNumber: row.line_number,
      outcome: row.outcome,
      segment: row.segment,
      byteOffset: row.byte_offset,
      byteLength: row.byte_length,
      sequence: row.sequence,
    }));
  }

  /** The first recorded line after `afterLine`, or null: lets a reader walk the records without the input. */
  async nextRecordedLine(batchId: string, afterLine: number): Promise<number | null> {
    const rows: { line_number: number }[] = await this.dataSource.query(
      `SELECT line_number FROM batch_line_results WHERE batch_id = $1 AND line_number > $2 ORDER BY line_number LIMIT 1`,
      [batchId, afterLine],
    );
    return rows[0]?.line_number ?? null;
  }

  async readSegment(batch: BatchKeyOwner, segment: string): Promise<Buffer> {
    return buffer(await this.storage.read(segmentKey(batch, segment)));
  }

  /**
   * Once a batch has ended: drops every stored object under its prefix except its registered output
   * and error files (journal segments, files of runs that did not commit, unfinished writes of
   * crashed runs), then its journal records. Repeating it is harmless.
   */
  async purgeFinished(batchId: string): Promise<void> {
    const rows: { workspace_id: string; keep: string[] }[] = await this.dataSource.query(
      `SELECT b.workspace_id, array_remove(ARRAY[o.storage_key, e.storage_key], NULL) AS keep
       FROM batches b
       LEFT JOIN files o ON o.id = b.output_file_id
       LEFT JOIN files e ON e.id = b.error_file_id
       WHERE b.id = $1 AND b.status IN ('completed', 'failed', 'expired', 'cancelled')`,
      [batchId],
    );
    if (rows.length === 0) {
      return;
    }
    const keep = new Set(rows[0].keep);
    for await (const key of this.storage.list(batchStoragePrefix({ id: batchId, workspaceId: rows[0].workspace_id }))) {
      if (!keep.has(key)) {
        await this.storage.delete(key);
      }
    }
    await this.dataSource.query(`DELETE FROM batch_line_results WHERE batch_id = $1`, [batchId]);
  }
}
