import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { AppError, BatchEntity, budgetStanding, type BudgetStanding, ErrorCode } from '@app/core';
import { BatchEstimateService } from '../batches/estimate/batch-estimate.service';

/** Holds batch creates to the workspace's monthly token budget. */
@Injectable()
export class WorkspaceBudget {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly estimates: BatchEstimateService,
  ) {}

  standing(workspaceId: string, manager: EntityManager = this.dataSource.manager): Promise<BudgetStanding> {
    return budgetStanding(manager, workspaceId);
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
