import type { BatchEntity } from '@app/core';

/**
 * A provider batch that is finishing is polled this many times as often as the poll interval: it ends within
 * moments, and each poll interval waited after that is latency added to the user's batch.
 */
const FINISHING_POLL_SPEEDUP = 10;

/**
 * Of the time the provider's pace so far says it still needs, how much is waited before the next poll: polling a
 * little early costs a request; polling late keeps the user's results waiting.
 */
const SHARE_OF_REMAINING_TIME = 0.8;

export interface PollProgress {
  pollMs: number;
  /** Lines the stage sent. */
  requestCount: number;
  /** Lines the provider has answered (or failed) so far. */
  done: number;
  /** Since the provider took the batch. */
  elapsedMs: number;
  finishing: boolean;
}

/**
 * The wait before the next poll of a running provider batch: the poll interval, or less when the provider's pace
 * so far says it ends sooner, so that its end is seen moments after it comes rather than up to an interval later.
 * Never less than a tenth of the interval.
 */
export function nextPollMs({ pollMs, requestCount, done, elapsedMs, finishing }: PollProgress): number {
  const least = pollMs / FINISHING_POLL_SPEEDUP;
  if (finishing) {
    return least;
  }
  if (done <= 0 || elapsedMs <= 0 || done >= requestCount) {
    return pollMs;
  }
  const remainingMs = ((requestCount - done) * elapsedMs) / done;
  return Math.min(pollMs, Math.max(least, remainingMs * SHARE_OF_REMAINING_TIME));
}

/** The longest wait before a stage turned down for the provider's quota is created again. */
const MAX_QUOTA_WAIT_MS = 10 * 60_000;

/**
 * The wait before creating again a stage the provider turned down for its quota for the `waits`-th time: the poll
 * interval, doubled at each turn-down up to ten minutes (the quota frees up as the provider's other batches end, in
 * minutes or hours; each create counts against the provider's own limit on creates).
 */
export function quotaWaitMs(pollMs: number, waits: number): number {
  return Math.max(pollMs, Math.min(MAX_QUOTA_WAIT_MS, pollMs * 2 ** Math.max(0, waits - 1)));
}

/** How long until a stage sent back `quotaWaits` times, last at `sentBackAt`, is due to be created again (≤ 0: now). */
export const quotaWaitLeftMs = (pollMs: number, quotaWaits: number, sentBackAt: Date, now = Date.now()): number =>
  quotaWaits === 0 ? 0 : sentBackAt.getTime() + quotaWaitMs(pollMs, quotaWaits) - now;

/**
 * How long a provider batch our batch no longer wants is waited for, from the cancel sent to it (else from when our
 * batch stopped wanting it: cancelled, or past its window), when it will not end or its provider will not answer.
 * OpenAI's `cancelling` lasts up to 10 minutes, and lines it finished meanwhile are kept.
 */
const GIVE_UP_AFTER_MS = 30 * 60_000;

/** When a stage still not ended is given up: its lines end unexecuted, as the batch's status says. */
export function giveUpAt(batch: Pick<BatchEntity, 'expiresAt' | 'cancellingAt'>, cancelSentAt: Date | null): number {
  const unwanted = Math.min(batch.expiresAt.getTime(), batch.cancellingAt?.getTime() ?? Infinity);
  return Math.max(unwanted, cancelSentAt?.getTime() ?? 0) + GIVE_UP_AFTER_MS;
}
