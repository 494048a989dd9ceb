import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In, Not } from 'typeorm';
import type { ChunkRange } from '../queue/jobs';
import { ANSWERING_STATUSES } from './batch-status';
import { ProviderBatchEntity, type ProviderBatchState } from './provider-batch.entity';

/** Which stage row: a batch's shard, and the stage (the index of its upstream in the fallback chain). */
export interface StageKey {
  batchId: string;
  shard: number;
  stage: number;
}

/** What a provider reports of its batch while it runs: its own status word and its counts so far. */
export interface ReportedCounts {
  status: string;
  completed: number;
  failed: number;
}

/** Usage of the lines providers' Batch APIs ran for a batch, billed at the batch price. */
export interface BatchPricedUsage {
  requestCount: number;
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  reasoningTokens: number;
}

/** How a stage ended: natively (its usage billed at the batch price) or executed, and whether the provider's copies go. */
export interface StageEnding {
  native: boolean;
  /** What the stage left at the provider is owed a delete (DiscardProviderFilesSweep), unless the upstream keeps it. */
  discardFiles: boolean;
}

/** The next stage a finished one hands its retriable failures to. */
export interface NextStage {
  stage: number;
  upstream: string;
  lines: number[];
}

/**
 * The statement's last step: the counts its `stage` step returns (for batch $1) leave the batch's mirror of what its
 * providers reported, once its lines are journaled or the provider batch that reported them is given up.
 */
const OUT_OF_MIRROR = `mirrored AS (
  UPDATE batches b
  SET provider_completed = greatest(b.provider_completed - s.completed, 0),
      provider_failed = greatest(b.provider_failed - s.failed, 0)
  FROM stage s
  WHERE b.id = $1
)`;

export const keyOf = (row: ProviderBatchEntity): StageKey => ({
  batchId: row.batchId,
  shard: row.shard,
  stage: row.stage,
});

/** The journal segments a stage writes are named with this prefix (see ChunkJournal). */
export const stageSegmentPrefix = (key: StageKey): string => `p${key.shard}s${key.stage}`;

/**
 * The provider batch stages of a batch's shards (table provider_batches). Every write is guarded by the
 * stage's state, so a late or repeated call changes nothing; the counts a running provider batch reports
 * are mirrored into `batches.provider_*` by difference, in the statement that records them.
 */
@Injectable()
export class ProviderBatchRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  private get rows() {
    return this.dataSource.getRepository(ProviderBatchEntity);
  }

  /** The shard's stages, first to last. */
  stages(batchId: string, shard: number): Promise<ProviderBatchEntity[]> {
    return this.rows.find({ where: { batchId, shard }, order: { stage: 'ASC' } });
  }

  /** Whether the batch runs on providers' Batch APIs (it has a shard stage). */
  async hasStages(batchId: string): Promise<boolean> {
    const rows = await this.dataSource.query<unknown[]>(`SELECT 1 FROM provider_batches WHERE batch_id = $1 LIMIT 1`, [
      batchId,
    ]);
    return rows.length > 0;
  }

  /**
   * Stages not yet done, counted by upstream and state, and done ones whose copies at the provider are still to be
   * deleted (state `discard_owed`). Each half reads its partial index: done stages pile up.
   */
  countStagesByState(): Promise<{ upstream: string; state: ProviderBatchState | 'discard_owed'; count: number }[]> {
    return this.dataSource.query(
      `SELECT upstream, state, count(*)::int AS count FROM provider_batches WHERE state <> 'done' GROUP BY 1, 2
       UNION ALL
       SELECT upstream, 'discard_owed', count(*)::int FROM provider_batches WHERE discard_owed GROUP BY 1`,
    );
  }

  /** What the lines providers ran for a batch used (the usage ledger bills it at the batch price). */
  async batchPricedUsage(batchId: string, manager = this.dataSource.manager): Promise<BatchPricedUsage> {
    const [row] = await manager.query<BatchPricedUsage[]>(
      `SELECT coalesce(sum(billed_requests), 0)::int AS "requestCount",
              coalesce(sum(input_tokens), 0)::float8 AS "inputTokens",
              coalesce(sum(cached_tokens), 0)::float8 AS "cachedTokens",
              coalesce(sum(output_tokens), 0)::float8 AS "outputTokens",
              coalesce(sum(reasoning_tokens), 0)::float8 AS "reasoningTokens"
         FROM provider_batches WHERE batch_id = $1`,
      [batchId],
    );
    return row;
  }

  /** Writes stage 0 of a shard (the intent, before the provider is asked); false if it was there already. */
  async begin(batchId: string, range: ChunkRange, upstream: string): Promise<boolean> {
    const result = await this.rows
      .createQueryBuilder()
      .insert()
      .values({
        batchId,
        shard: range.index,
        stage: 0,
        upstream,
        state: 'submitting',
        firstLine: range.firstLine,
        lastLine: range.lastLine,
        startByte: range.startByte,
        endByte: range.endByte,
        lines: null,
        requestCount: range.lineCount,
      })
      .orIgnore()
      .execute();
    return (result.raw as unknown[]).length > 0;
  }

  async fileUploaded(key: StageKey, fileId: string): Promise<void> {
    await this.rows.update({ ...key, state: 'submitting' }, { providerFileId: fileId });
  }

  /** Whether a stage other than `key` has recorded this provider batch as its own. */
  async recordedElsewhere(providerBatchId: string, key: StageKey): Promise<boolean> {
    const rows = await this.dataSource.query<unknown[]>(
      `SELECT 1 FROM provider_batches
        WHERE provider_batch_id = $1 AND (batch_id, shard, stage) <> ($2, $3, $4)
        LIMIT 1`,
      [providerBatchId, key.batchId, key.shard, key.stage],
    );
    return rows.length > 0;
  }

  /**
   * Records the provider batch a submitting stage became. False when the stage holds another: a second turn of the
   * shard (its job handed on while a first still ran) recorded its own first. A repeat of this record is true.
   */
  async submitted(key: StageKey, providerBatchId: string): Promise<boolean> {
    // The second SELECT reads the row as it was before this statement: the id a repeat finds already there.
    const rows = await this.dataSource.query<{ provider_batch_id: string | null }[]>(
      `WITH recorded AS (
         UPDATE provider_batches SET provider_batch_id = $4, state = 'running', submitted_at = clock_timestamp()
         WHERE batch_id = $1 AND shard = $2 AND stage = $3 AND state = 'submitting'
         RETURNING provider_batch_id
       )
       SELECT provider_batch_id FROM recorded
       UNION ALL
       SELECT provider_batch_id FROM provider_batches WHERE batch_id = $1 AND shard = $2 AND stage = $3`,
      [key.batchId, key.shard, key.stage, providerBatchId],
    );
    return rows.some((row) => row.provider_batch_id === providerBatchId);
  }

  /**
   * The provider turned the stage's batch down for its quota: the stage goes back to `submitting` to create another
   * (its uploaded input file kept), and what that batch reported leaves the batch's mirrored counts. Returns how many
   * times the stage has been sent back; null if it no longer runs that provider batch.
   */
  async sendBack(key: StageKey, providerBatchId: string): Promise<number | null> {
    const rows = await this.dataSource.query<{ quota_waits: number }[]>(
      `WITH before AS (
         SELECT reported_completed, reported_failed FROM provider_batches
         WHERE batch_id = $1 AND shard = $2 AND stage = $3 AND state = 'running' AND provider_batch_id = $4
         FOR UPDATE
       ), stage AS (
         UPDATE provider_batches p
         SET state = 'submitting', provider_batch_id = NULL, provider_status = NULL, submitted_at = NULL,
             cancel_sent_at = NULL, reported_completed = 0, reported_failed = 0, intent_at = clock_timestamp(),
             quota_waits = p.quota_waits + 1
         FROM before
         WHERE p.batch_id = $1 AND p.shard = $2 AND p.stage = $3
         RETURNING p.quota_waits, before.reported_completed AS completed, before.reported_failed AS failed
       ), ${OUT_OF_MIRROR}
       SELECT quota_waits FROM stage`,
      [key.batchId, key.shard, key.stage, providerBatchId],
    );
    return rows[0]?.quota_waits ?? null;
  }

  async cancelSent(key: StageKey): Promise<void> {
    await this.rows.update(key, { cancelSentAt: () => 'clock_timestamp()' });
  }

  /**
   * Records what the provider reports of a running stage and mirrors the change of its counts into the
   * batch; an ended provider batch moves the stage to `ingesting`. A stage no longer running is left alone.
   */
  async report(key: StageKey, reported: ReportedCounts, ended: boolean): Promise<void> {
    await this.dataSource.query(
      `WITH before AS (
         SELECT reported_completed, reported_failed FROM provider_batches
         WHERE batch_id = $1 AND shard = $2 AND stage = $3 AND state = 'running'
         FOR UPDATE
       ), reported AS (
         UPDATE provider_batches p
         SET reported_completed = $4, reported_failed = $5, provider_status = $6,
             state = CASE WHEN $7 THEN 'ingesting' ELSE p.state END
         FROM before
         WHERE p.batch_id = $1 AND p.shard = $2 AND p.stage = $3
         RETURNING $4 - before.reported_completed AS completed, $5 - before.reported_failed AS failed
       )
       UPDATE batches b
       SET provider_completed = greatest(b.provider_completed + r.completed, 0),
           provider_failed = greatest(b.provider_failed + r.failed, 0)
       FROM reported r
       WHERE b.id = $1 AND b.status = ANY($8)`,
      [
        key.batchId,
        key.shard,
        key.stage,
        reported.completed,
        reported.failed,
        reported.status,
        ended,
        ANSWERING_STATUSES,
      ],
    );
  }

  /** Ended stages whose copies at the provider are still to be deleted, the longest owed first, but on `skipped`. */
  owingDiscard(limit: number, skipped: string[]): Promise<ProviderBatchEntity[]> {
    return this.rows.find({
      where: { discardOwed: true, ...(skipped.length > 0 ? { upstream: Not(In(skipped)) } : {}) },
      order: { endedAt: 'ASC' },
      take: limit,
    });
  }

  /** The stage's copies at the provider are deleted (or will not be): nothing more is owed. */
  async discarded(key: StageKey): Promise<void> {
    await this.rows.update({ ...key, discardOwed: true }, { discardOwed: false });
  }

  /**
   * Ends a stage once: whatever of its reported counts its journaled lines did not take over leaves the batch's
   * mirrored counts, a native stage keeps what its successful lines used (billed at the batch price), and the
   * next stage, if any, is written in the same transaction.
   */
  async finish(row: ProviderBatchEntity, ending: StageEnding, next: NextStage | null): Promise<void> {
    const key = keyOf(row);
    await this.dataSource.transaction(async (manager) => {
      const ended: unknown[] = await manager.query(
        `WITH journaled AS (
           SELECT count(*) FILTER (WHERE outcome = 'succeeded')::int AS completed,
                  count(*) FILTER (WHERE outcome = 'failed')::int AS failed,
                  coalesce(sum(input_tokens) FILTER (WHERE outcome = 'succeeded'), 0) AS input_tokens,
                  coalesce(sum(cached_tokens) FILTER (WHERE outcome = 'succeeded'), 0) AS cached_tokens,
                  coalesce(sum(output_tokens) FILTER (WHERE outcome = 'succeeded'), 0) AS output_tokens,
                  coalesce(sum(reasoning_tokens) FILTER (WHERE outcome = 'succeeded'), 0) AS reasoning_tokens
           FROM batch_line_results
           WHERE batch_id = $1 AND line_number BETWEEN $4 AND $5 AND segment LIKE $6
         ), stage AS (
           UPDATE provider_batches p
           SET state = 'done', ended_at = clock_timestamp(),
               billed_requests = CASE WHEN $7 THEN j.completed ELSE 0 END,
               input_tokens = CASE WHEN $7 THEN j.input_tokens ELSE 0 END,
               cached_tokens = CASE WHEN $7 THEN j.cached_tokens ELSE 0 END,
               output_tokens = CASE WHEN $7 THEN j.output_tokens ELSE 0 END,
               reasoning_tokens = CASE WHEN $7 THEN j.reasoning_tokens ELSE 0 END,
               discard_owed = $8 AND (p.provider_file_id IS NOT NULL OR p.provider_batch_id IS NOT NULL)
           FROM journaled j
           WHERE p.batch_id = $1 AND p.shard = $2 AND p.stage = $3 AND p.state <> 'done'
           RETURNING greatest(p.reported_completed - j.completed, 0) AS completed,
                     greatest(p.reported_failed - j.failed, 0) AS failed
         ), ${OUT_OF_MIRROR}
         SELECT 1 FROM stage`,
        [
          key.batchId,
          key.shard,
          key.stage,
          row.firstLine,
          row.lastLine,
          `${stageSegmentPrefix(key)}-%`,
          ending.native,
          ending.discardFiles,
        ],
      );
      if (ended.length === 0 || !next) {
        return;
      }
      await manager
        .createQueryBuilder()
        .insert()
        .into(ProviderBatchEntity)
        .values({
          batchId: row.batchId,
          shard: row.shard,
          stage: next.stage,
          upstream: next.upstream,
          state: 'submitting',
          firstLine: row.firstLine,
          lastLine: row.lastLine,
          startByte: row.startByte,
          endByte: row.endByte,
          lines: next.lines,
          requestCount: next.lines.length,
        })
        .orIgnore()
        .execute();
    });
  }
}
