export const BATCH_STATUSES = [
  'validating',
  'failed',
  'in_progress',
  'finalizing',
  'completed',
  'expired',
  'cancelling',
  'cancelled',
] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** For each status, the statuses a batch may enter it from. Terminal statuses are never left. */
export const ALLOWED_FROM: Record<BatchStatus, readonly BatchStatus[]> = {
  validating: [],
  in_progress: ['validating'],
  failed: ['validating', 'in_progress', 'finalizing'],
  finalizing: ['in_progress'],
  completed: ['finalizing'],
  expired: ['validating', 'in_progress'],
  cancelling: ['validating', 'in_progress'],
  cancelled: ['cancelling'],
};

export type TerminalStatus = 'failed' | 'completed' | 'expired' | 'cancelled';

export const TERMINAL_STATUSES: readonly BatchStatus[] = ['failed', 'completed', 'expired', 'cancelled'];

/** A batch in one of these may still read its input and write results: what it uses must stay. */
export const OPEN_STATUSES: readonly BatchStatus[] = BATCH_STATUSES.filter(
  (status) => !TERMINAL_STATUSES.includes(status),
);

/** A batch in one of these may still have lines running upstream: their answers are still taken. */
export const ANSWERING_STATUSES: readonly BatchStatus[] = ['in_progress', 'cancelling'];

export const isTerminal = (status: BatchStatus): status is TerminalStatus => TERMINAL_STATUSES.includes(status);

/** The timestamp column each status stamps when entered (validating is stamped by created_at). */
export const TIMESTAMP_OF = {
  in_progress: 'inProgressAt',
  failed: 'failedAt',
  finalizing: 'finalizingAt',
  completed: 'completedAt',
  expired: 'expiredAt',
  cancelling: 'cancellingAt',
  cancelled: 'cancelledAt',
} as const satisfies Record<Exclude<BatchStatus, 'validating'>, string>;
