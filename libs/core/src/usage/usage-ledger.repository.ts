import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { UsageLedgerEntity, type UsagePricing } from './usage-ledger.entity';

export type LedgerRow = Pick<
  UsageLedgerEntity,
  | 'workspaceId'
  | 'batchId'
  | 'model'
  | 'pricing'
  | 'requestCount'
  | 'inputTokens'
  | 'cachedTokens'
  | 'outputTokens'
  | 'reasoningTokens'
>;

/** A span of recorded_at in unix seconds, from `start` (inclusive) to `end` (exclusive); either may be open. */
export interface LedgerRange {
  start: number | null;
  end: number | null;
}

/** What a workspace used of one model at one pricing. */
export interface ModelUsage {
  model: string;
  pricing: UsagePricing;
  batches: number;
  requests: number;
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  reasoningTokens: number;
}

const IN_RANGE = `workspace_id = $1
  AND ($2::bigint IS NULL OR recorded_at >= to_timestamp($2))
  AND ($3::bigint IS NULL OR recorded_at < to_timestamp($3))`;

/** Token usage billed to workspaces (table usage_ledger): written once per batch, model and pricing. */
@Injectable()
export class UsageLedgerRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Writes in the caller's transaction; the unique (batch, model, pricing) key makes a repeat write nothing. */
  async record(manager: EntityManager, rows: LedgerRow[]): Promise<void> {
    await manager.createQueryBuilder().insert().into(UsageLedgerEntity).values(rows).orIgnore().execute();
  }

  /** The workspace's usage in the range, by model and pricing. */
  async byModel(workspaceId: string, range: LedgerRange): Promise<ModelUsage[]> {
    const rows = await this.dataSource.query<Record<keyof ModelUsage, string>[]>(
      `SELECT model, pricing, count(*) AS batches, sum(request_count) AS requests,
              sum(input_tokens) AS "inputTokens", sum(cached_tokens) AS "cachedTokens",
              sum(output_tokens) AS "outputTokens", sum(reasoning_tokens) AS "reasoningTokens"
         FROM usage_ledger WHERE ${IN_RANGE}
        GROUP BY model, pricing ORDER BY model, pricing`,
      [workspaceId, range.start, range.end],
    );
    return rows.map((row) => ({
      model: row.model,
      pricing: row.pricing as UsagePricing,
      batches: Number(row.batches),
      requests: Number(row.requests),
      inputTokens: Number(row.inputTokens),
      cachedTokens: Number(row.cachedTokens),
      outputTokens: Number(row.outputTokens),
      reasoningTokens: Number(row.reasoningTokens),
    }));
  }

  /** Batches billed in the range: a batch whose lines ran both ways has a row for each pricing. */
  async billedBatches(workspaceId: string, range: LedgerRange): Promise<number> {
    const [row] = await this.dataSource.query<{ batches: number }[]>(
      `SELECT count(DISTINCT batch_id)::int AS batches FROM usage_ledger WHERE ${IN_RANGE}`,
      [workspaceId, range.start, range.end],
    );
    return row.batches;
  }
}
