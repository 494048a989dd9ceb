import { describe, expect, it } from 'vitest';
import { WEBHOOK_MAX_ATTEMPTS } from '@app/core';
import { webhookRetryDelayMs } from './webhook-retry';

describe('webhookRetryDelayMs', () => {
  it('starts at the base delay and doubles', () => {
    expect([1, 2, 3, 4].map((n) => webhookRetryDelayMs(n, 5000))).toEqual([5000, 10_000, 20_000, 40_000]);
  });

  it('never waits more than an hour with the default base', () => {
    expect(webhookRetryDelayMs(11, 5000)).toBe(3_600_000);
    expect(webhookRetryDelayMs(50, 5000)).toBe(3_600_000);
  });

  it('spreads the attempts over hours', () => {
    const retries = Array.from({ length: WEBHOOK_MAX_ATTEMPTS - 1 }, (_, i) => webhookRetryDelayMs(i + 1, 5000));
    const totalHours = retries.reduce((sum, ms) => sum + ms, 0) / 3_600_000;
    expect(totalHours).toBeGreaterThan(2);
    expect(totalHours).toBeLessThan(4);
  });
});
