import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { AppError, BatchEntity, ErrorCode, OPEN_STATUSES } from '@app/core';
import { BatchEstimateService } from '../batches/estimate/batch-estimate.service';

/** Where a workspace stands against its monthly token budget (calendar month, UTC). */
export interface BudgetStanding {
  /** Tokens allowed this month; null = no budget. */
  budget: number | null;
  /** Billed this month (usage ledger) plus what open batches have used so far. */
  used: number;
  /** What open batches may still use: their estimate at create less what they have used. */
  reserved: number;
  monthStart: Date;
}

interface StandingRow {
  month_start: Date;
  budget: string | null;
  billed: string;
  running: string;
  reserved: string;
}

/**
 * Month-to-date use, not the ledger's whole history; an open batch counts in the month it is read, and its
 * reservation ends when it ends (the ledger then holds what it really used). A batch that has its ledger rows
 * counts once, from the ledger.
 */
const STANDING = `
  WITH month AS (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start)
  SELECT month.start AS month_start,
         (SELECT w.monthly_token_budget FROM workspaces w WHERE w.id = $1) AS budget,
         (SELECT coalesce(sum(l.input_tokens + l.output_tokens), 0) FROM usage_ledger l
           WHERE l.workspace_id = $1 AND l.recorded_at >= month.start) AS billed,
         coalesce(sum(b.input_tokens + b.output_tokens), 0) AS running,
         coalesce(sum(greatest(coalesce(b.estimated_tokens, 0) - b.input_tokens - b.output_tokens, 0)), 0) AS reserved
    FROM month
    LEFT JOIN batches b
      ON b.workspace_id = $1 AND b.status = ANY($2)
     AND NOT EXISTS (SELECT 1 FROM usage_ledger l WHERE l.batch_id = b.id)
   GROUP BY month.start`;

/** Holds batch creates to the workspace's monthly token budget. */
@Injectable()
export class WorkspaceBudget {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly estimates: BatchEstimateService,
  ) {}

  async standing(workspaceId: string, manager: EntityManager = this.dataSource.manager): Promise<BudgetStanding> {
    const [row] = await manager.query<StandingRow[]>(STANDING, [workspaceId, OPEN_STATUSES]);
    return {
      budget: row.budget === null ? null : Number(row.budget),
      used: Number(row.billed) + Number(row.running),
      reserved: Number(row.reserved),
      monthStart: row.month_start,
    };
  }

  /**
   * Stores the new batch with its estimate if it fits in what is left of the budget. The workspace row stays
   * locked from the check to the commit, so two creates never both spend the last of it; `alsoUnderLock` runs the
   * create's other per-workspace checks (the open-batch limit) under the same lock, and `afterInsert` what must
   * commit with the batch (a retry's link to the batch it retries). Without a budget
   * nothing is estimated (reading a large file costs time) and the batch reserves nothing.
   */
  async admit(
    batch: BatchEntity,
    alsoUnderLock: (manager: EntityManager) => Promise<void>,
    afterInsert: (manager: EntityManager, batch: BatchEntity) => Promise<void> = async () => {},
  ): Promise<BatchEntity> {
    // Estimated before the lock: the file is read once, without holding up the workspace's other creates.
    let estimate = (await this.hasBudget(batch.workspaceId)) ? await this.estimate(batch) : null;
    return this.dataSource.transaction(async (manager) => {
      await manager.query(`SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE`, [batch.workspaceId]);
      await alsoUnderLock(manager);
      const standing = await this.standing(batch.workspaceId, manager);
      if (standing.budget !== null) {
        // A budget set while this file was being read: estimate now, under the lock.
        estimate ??= await this.estimate(batch);
        const left = standing.budget - standing.used - standing.reserved;
        if (estimate.tokens > left) {
          throw new AppError(
            ErrorCode.BudgetExceeded,
            `This batch would exceed the workspace's monthly token budget: budget ${standing.budget}, used ` +
              `${standing.used}, reserved ${standing.reserved} by open batches, this batch's estimate ` +
              `${estimate.tokens} (${estimate.input} input + ${estimate.output} output ceiling); ` +
              `${Math.max(left, 0)} tokens are left this month.`,
          );
        }
      }
      batch.estimatedTokens = estimate?.tokens ?? null;
      const stored = await manager.getRepository(BatchEntity).save(batch);
      await afterInsert(manager, stored);
      return stored;
    });
  }

  private async hasBudget(workspaceId: string): Promise<boolean> {
    const rows = await this.dataSource.query<unknown[]>(
      `SELECT 1 FROM workspaces WHERE id = $1 AND monthly_token_budget IS NOT NULL`,
      [workspaceId],
    );
    return rows.length > 0;
  }

  /** Input tokens + output ceiling of the file's valid lines (invalid ones fail validation and use nothing). */
  private async estimate(batch: BatchEntity): Promise<{ tokens: number; input: number; output: number }> {
    const tally = await this.estimates.tally(batch.workspaceId, batch.inputFileId, batch.endpoint);
    return {
      tokens: tally.inputTokens + tally.maxOutputTokens,
      input: tally.inputTokens,
      output: tally.maxOutputTokens,
    };
  }
}
