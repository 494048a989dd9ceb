import { describe, expect, it } from 'vitest';
import { ALLOWED_FROM, BATCH_STATUSES, isTerminal, TERMINAL_STATUSES } from './batch-status';
import { canTransition } from '../../../../test/support/batch-status-model';

describe('batch status machine', () => {
  it('never leaves a terminal status', () => {
    for (const from of TERMINAL_STATUSES) {
      for (const to of BATCH_STATUSES) {
        expect(canTransition(from, to), `${from} -> ${to}`).toBe(false);
      }
    }
  });

  it('follows the OpenAI lifecycle', () => {
    expect(canTransition('validating', 'in_progress')).toBe(true);
    expect(canTransition('in_progress', 'finalizing')).toBe(true);
    expect(canTransition('finalizing', 'completed')).toBe(true);
    expect(canTransition('validating', 'failed')).toBe(true);
    expect(canTransition('in_progress', 'cancelling')).toBe(true);
    expect(canTransition('validating', 'cancelling')).toBe(true);
    expect(canTransition('cancelling', 'cancelled')).toBe(true);
    expect(canTransition('in_progress', 'expired')).toBe(true);
  });

  it('never moves backwards', () => {
    expect(canTransition('in_progress', 'validating')).toBe(false);
    expect(canTransition('finalizing', 'in_progress')).toBe(false);
    expect(canTransition('cancelling', 'in_progress')).toBe(false);
    expect(canTransition('cancelling', 'completed')).toBe(false);
    expect(canTransition('finalizing', 'cancelling')).toBe(false);
  });

  it('nothing enters validating, and only terminal statuses are terminal', () => {
    expect(ALLOWED_FROM.validating).toEqual([]);
    expect(BATCH_STATUSES.filter(isTerminal)).toEqual(['failed', 'completed', 'expired', 'cancelled']);
  });
});
