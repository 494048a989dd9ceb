import { describe, expect, it } from 'vitest';
import { nextPollMs } from './poll-schedule';

const at = (done: number, elapsedMs: number, finishing = false) =>
  nextPollMs({ pollMs: 30_000, requestCount: 1000, done, elapsedMs, finishing });

describe('nextPollMs', () => {
  it('waits the poll interval while the provider has answered nothing or is far from done', () => {
    expect(at(0, 60_000)).toBe(30_000);
    expect(at(100, 60_000)).toBe(30_000); // 540 s to go at this pace
  });

  it('polls shortly before the provider, at its pace so far, should end', () => {
    // 900 of 1000 in 90 s: 10 s to go; polled at 8 s.
    expect(at(900, 90_000)).toBe(8_000);
    expect(at(500, 20_000)).toBe(16_000);
  });

  it('never polls more often than a tenth of the interval, and at that rate once it is finishing', () => {
    expect(at(999, 600_000)).toBe(3_000);
    expect(at(1000, 600_000)).toBe(30_000); // all counted but not said finishing: the protocol decides
    expect(at(200, 60_000, true)).toBe(3_000);
  });
});
