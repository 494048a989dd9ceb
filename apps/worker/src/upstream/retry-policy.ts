export interface RetryPolicyOptions {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Statuses worth another attempt: timeouts, rate limits, and server-side failures. */
export const isRetryableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500;

/** `error.code`s of lines that got no answer through no fault of their own: another upstream may answer them. */
const UNANSWERED_CODES = new Set<string>([
  'request_timeout',
  'upstream_unreachable',
  'invalid_upstream_response',
  'request_not_executed',
]);

/**
 * A line's final failure worth re-running on another upstream (its fallback): the upstream was away, busy or
 * broken (5xx, 429, 408, no answer, a body that is not JSON). A client error (another 4xx) is the line's own.
 */
export function isRetriableFailure(
  outcome: { kind: 'response'; statusCode: number } | { kind: 'error'; code: string },
): boolean {
  return outcome.kind === 'error' ? UNANSWERED_CODES.has(outcome.code) : isRetryableStatus(outcome.statusCode);
}

/** The upstream's own wait hint: retry-after-ms, then retry-after in seconds or as an HTTP date. */
export function retryAfterMs(headers: Record<string, string | string[] | undefined>, now = Date.now()): number | null {
  const first = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const ms = Number(first('retry-after-ms'));
  if (first('retry-after-ms') !== undefined && Number.isFinite(ms) && ms >= 0) {
    return ms;
  }
  const header = first('retry-after');
  if (header === undefined) {
    return null;
  }
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) {
    return seconds * 1000;
  }
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/**
 * Delay before attempt `attempt + 1` (attempt counts from 1): the server's hint when given,
 * otherwise exponential backoff with jitter between half and the whole step; always capped.
 */
export function backoffDelayMs(
  attempt: number,
  options: RetryPolicyOptions,
  hintMs: number | null,
  random: () => number = Math.random,
): number {
  if (hintMs !== null) {
    return Math.min(hintMs, options.maxDelayMs);
  }
  const step = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}
