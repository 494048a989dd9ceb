/** The longest wait between two attempts, in units of the first: 720 × 5 s = 1 hour. */
const MAX_STEPS = 720;

/**
 * Wait before the next attempt of a webhook delivery, after `attemptsMade` failed ones: `baseMs`, doubling
 * each time, capped at 720 × `baseMs`. With the default 5 s and 12 attempts the retries span about 2½ hours.
 */
export const webhookRetryDelayMs = (attemptsMade: number, baseMs: number): number =>
  baseMs * Math.min(2 ** Math.max(0, attemptsMade - 1), MAX_STEPS);
