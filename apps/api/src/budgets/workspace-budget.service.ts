import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AppError, WorkspaceRepository, type BudgetStanding, ErrorCode } from '@app/core';

/** What a batch may use at most: the input tokens and output ceiling of its file's valid lines. */
export interface TokenEstimate {
  tokens: number;
  input: number;
  output: number;
}

/** The workspace's monthly token budget, as batch creates and the admin api read it. */
@Injectable()
export class WorkspaceBudget {
  constructor(private readonly workspaces: WorkspaceRepository) {}

  standing(workspaceId: string, tx?: EntityManager): Promise<BudgetStanding> {
    return this.workspaces.budgetStanding(workspaceId, tx);
  }

  hasBudget(workspaceId: string): Promise<boolean> {
    return this.workspaces.hasBudget(workspaceId);
  }

  /** Refuses a batch whose estimate does not fit in what is left of the budget (any fits without one). */
  checkFits(standing: BudgetStanding, estimate: TokenEstimate): void {
    if (standing.budget === null) {
      return;
    }
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
}
