import { ALLOWED_FROM, type BatchStatus } from '@app/core';

/**
 * How far along a batch is, written independently of ALLOWED_FROM: every allowed move must raise it.
 * Cancelling is past validating and in_progress (like finalizing, and neither leads to the other);
 * every terminal status is last.
 */
export const STATUS_RANK: Record<BatchStatus, number> = {
  validating: 0,
  in_progress: 1,
  finalizing: 2,
  cancelling: 2,
  failed: 3,
  completed: 3,
  expired: 3,
  cancelled: 3,
};

/** A move ALLOWED_FROM permits: the model the specs hold the status machine and its guarded UPDATE to. */
export const canTransition = (from: BatchStatus, to: BatchStatus): boolean => ALLOWED_FROM[to].includes(from);
