import { Injectable } from '@nestjs/common';
import { WorkspaceRepository } from '@app/core';

/**
 * How stale a workspace's standing read from PostgreSQL may be. What this process's lines use meanwhile is added
 * as their answers arrive (see `spent`), so only other workers' lines of the last second can overshoot a budget.
 */
const FRESH_MS = 1000;

interface Standing {
  budget: number | null;
  used: number;
  monthStart: number;
  readAt: number;
  reading: Promise<void> | null;
}

/**
 * The monthly token budget as a hard cap: before a line of a workspace goes upstream, is there budget left?
 * Its month's usage (the ledger, plus what open batches have recorded) is read at most once a second per
 * workspace and process, whatever the number of lines asking, and what this process's answers use is counted
 * in between.
 */
@Injectable()
export class BudgetGate {
  private readonly standings = new Map<string, Standing>();

  constructor(private readonly workspaces: WorkspaceRepository) {}

  /** Resolves false once the workspace has used its budget (true without one); rejects when PostgreSQL is away. */
  async allows(workspaceId: string): Promise<boolean> {
    const standing = this.standingOf(workspaceId);
    if (Date.now() - standing.readAt >= FRESH_MS) {
      standing.reading ??= this.read(workspaceId, standing).finally(() => {
        standing.reading = null;
      });
      await standing.reading;
    }
    return standing.budget === null || standing.used < standing.budget;
  }

  /** Tokens an answer of this process has just used: they count at once, before the journal records them. */
  spent(workspaceId: string, tokens: number): void {
    const standing = this.standings.get(workspaceId);
    if (standing) {
      standing.used += tokens;
    }
  }

  private standingOf(workspaceId: string): Standing {
    let standing = this.standings.get(workspaceId);
    if (!standing) {
      standing = { budget: null, used: 0, monthStart: 0, readAt: 0, reading: null };
      this.standings.set(workspaceId, standing);
    }
    return standing;
  }

  private async read(workspaceId: string, standing: Standing): Promise<void> {
    const read = await this.workspaces.budgetStanding(workspaceId);
    const monthStart = read.monthStart.getTime();
    standing.budget = read.budget;
    // Within a month use only grows: answers counted here but not yet recorded are not lost to a reading.
    standing.used = monthStart === standing.monthStart ? Math.max(standing.used, read.used) : read.used;
    standing.monthStart = monthStart;
    standing.readAt = Date.now();
  }
}
