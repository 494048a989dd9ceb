import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BatchRequestResultEntity, type RequestOutcome } from '@app/core';
import type { TokenUsage } from './usage';

export interface RequestResult {
  lineNumber: number;
  customId: string;
  outcome: RequestOutcome;
  /** The JSONL line for the output or error file. */
  outputLine: string;
  usage: TokenUsage;
}

const PAGE = 500;

/** The per-line checkpoint of a running batch: answers are stored the moment they arrive, each line once. */
@Injectable()
export class RequestResults {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async answeredLines(batchId: string, firstLine: number, lastLine: number): Promise<Set<number>> {
    const rows: { line_number: number }[] = await this.dataSource.query(
      `SELECT line_number FROM batch_request_results WHERE batch_id = $1 AND line_number BETWEEN $2 AND $3`,
      [batchId, firstLine, lastLine],
    );
    return new Set(rows.map((row) => row.line_number));
  }

  /**
   * Stores one answer and adds it to the batch's counts and usage in the same statement. A line that
   * already has an answer (a duplicate after a crash) changes nothing, so counts are never doubled.
   */
  async record(batchId: string, result: RequestResult): Promise<boolean> {
    const rows: { recorded: number }[] = await this.dataSource.query(
      `WITH inserted AS (
         INSERT INTO batch_request_results (batch_id, line_number, custom_id, outcome, output_line)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (batch_id, line_number) DO NOTHING
         RETURNING outcome
       ), counted AS (
         UPDATE batches SET
           request_completed = request_completed + (SELECT count(*) FROM inserted WHERE outcome = 'succeeded'),
           request_failed = request_failed + (SELECT count(*) FROM inserted WHERE outcome = 'failed'),
           input_tokens = input_tokens + $6 * (SELECT count(*) FROM inserted),
           cached_tokens = cached_tokens + $7 * (SELECT count(*) FROM inserted),
           output_tokens = output_tokens + $8 * (SELECT count(*) FROM inserted),
           reasoning_tokens = reasoning_tokens + $9 * (SELECT count(*) FROM inserted)
         WHERE id = $1
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM inserted)::int AS recorded`,
      [
        batchId,
        result.lineNumber,
        result.customId,
        result.outcome,
        result.outputLine,
        result.usage.inputTokens,
        result.usage.cachedTokens,
        result.usage.outputTokens,
        result.usage.reasoningTokens,
      ],
    );
    return rows[0].recorded === 1;
  }

  /** Every stored answer of a batch in line order, a page at a time. */
  async *inLineOrder(batchId: string): AsyncGenerator<BatchRequestResultEntity> {
    const repository = this.dataSource.getRepository(BatchRequestResultEntity);
    let after = 0;
    for (;;) {
      const page = await repository
        .createQueryBuilder('r')
        .where('r.batch_id = :batchId AND r.line_number > :after', { batchId, after })
        .orderBy('r.line_number', 'ASC')
        .take(PAGE)
        .getMany();
      yield* page;
      if (page.length < PAGE) {
        return;
      }
      after = page[page.length - 1].lineNumber;
    }
  }

  async purge(batchId: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM batch_request_results WHERE batch_id = $1`, [batchId]);
  }
}
