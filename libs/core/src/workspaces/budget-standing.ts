import type { EntityManager } from 'typeorm';
import { OPEN_STATUSES } from '../batches/batch-status';

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

/**
 * The one reading of a workspace's budget: the api admits batch creates by it (with their estimates), the
 * worker stops sending a workspace's lines once `used` reaches `budget`.
 */
export async function budgetStanding(manager: EntityManager, workspaceId: string): Promise<BudgetStanding> {
  const [row] = await manager.query<StandingRow[]>(STANDING, [workspaceId, OPEN_STATUSES]);
  return {
    budget: row.budget === null ? null : Number(row.budget),
    used: Number(row.billed) + Number(row.running),
    reserved: Number(row.reserved),
    monthStart: row.month_start,
  };
}
