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
