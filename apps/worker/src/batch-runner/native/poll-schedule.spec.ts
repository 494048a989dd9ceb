import { describe, expect, it } from 'vitest';
import { giveUpAt, nextPollMs, quotaWaitLeftMs, quotaWaitMs } from './poll-schedule';

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

describe('quotaWaitMs', () => {
  it('waits the poll interval after the first turn-down, then twice as long each time, up to ten minutes', () => {
    expect([1, 2, 3, 4, 5, 6, 20].map((waits) => quotaWaitMs(30_000, waits))).toEqual([
      30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 600_000,
    ]);
  });

  it('never waits less than the poll interval', () => {
    expect(quotaWaitMs(900_000, 3)).toBe(900_000);
  });
});

describe('quotaWaitLeftMs', () => {
  const sentBackAt = new Date(1_000_000);

  it("counts a sent-back stage's wait from when it was sent back", () => {
    expect(quotaWaitLeftMs(30_000, 3, sentBackAt, 1_000_000 + 100_000)).toBe(20_000);
    expect(quotaWaitLeftMs(30_000, 3, sentBackAt, 1_000_000 + 120_000)).toBe(0);
    expect(quotaWaitLeftMs(30_000, 1, sentBackAt, 1_000_000 + 31_000)).toBe(-1_000);
  });

  it('is nothing for a stage never sent back', () => {
    expect(quotaWaitLeftMs(30_000, 0, sentBackAt, 1_000_000)).toBe(0);
  });
});

describe('giveUpAt', () => {
  const expiresAt = new Date('2026-12-08T12:00:00Z');
  const cancellingAt = new Date('2026-12-08T09:00:00Z');

  it('is half an hour after the window ends, or after the cancel, for a provider batch never sent a cancel', () => {
    expect(giveUpAt({ expiresAt, cancellingAt: null }, null)).toBe(Date.parse('2026-12-08T12:30:00Z'));
    expect(giveUpAt({ expiresAt, cancellingAt }, null)).toBe(Date.parse('2026-12-08T09:30:00Z'));
  });

  it('is half an hour after the cancel reached the provider, however late that was', () => {
    const cancelSentAt = new Date('2026-12-08T12:50:00Z');
    expect(giveUpAt({ expiresAt, cancellingAt: null }, cancelSentAt)).toBe(Date.parse('2026-12-08T13:20:00Z'));
    expect(giveUpAt({ expiresAt, cancellingAt }, new Date('2026-12-08T09:00:30Z'))).toBe(
      Date.parse('2026-12-08T09:30:30Z'),
    );
  });
});
