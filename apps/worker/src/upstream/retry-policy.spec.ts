import { describe, expect, it } from 'vitest';
import { backoffDelayMs, isRetryableStatus, retryAfterMs } from './retry-policy';

const options = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };

describe('retry policy', () => {
  it('retries rate limits, timeouts and server errors only', () => {
    expect([408, 429, 500, 502, 503].every(isRetryableStatus)).toBe(true);
    expect([200, 400, 401, 404, 422].some(isRetryableStatus)).toBe(false);
  });

  it('reads retry-after-ms, retry-after seconds and HTTP dates', () => {
    expect(retryAfterMs({ 'retry-after-ms': '250' })).toBe(250);
    expect(retryAfterMs({ 'retry-after': '2' })).toBe(2000);
    expect(retryAfterMs({ 'retry-after': new Date(10_000).toUTCString() }, 7000)).toBe(3000);
    expect(retryAfterMs({ 'retry-after': 'soon' })).toBeNull();
    expect(retryAfterMs({})).toBeNull();
  });

  it('backs off exponentially with jitter, capped, and honours the server hint', () => {
    expect(backoffDelayMs(1, options, null, () => 0)).toBe(50);
    expect(backoffDelayMs(1, options, null, () => 1)).toBe(100);
    expect(backoffDelayMs(3, options, null, () => 1)).toBe(400);
    expect(backoffDelayMs(10, options, null, () => 1)).toBe(1000);
    expect(backoffDelayMs(1, options, 700)).toBe(700);
    expect(backoffDelayMs(1, options, 60_000)).toBe(1000);
  });
});
