import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BATCH_STATUSES, type BatchStatus, isTerminal, TERMINAL_STATUSES } from './batch-status';
import { canTransition, STATUS_RANK as RANK } from '../../../../test/support/batch-status-model';

/** The whole lifecycle, written out independently of ALLOWED_FROM: every history is a prefix of one of these. */
const LIFECYCLES: readonly (readonly BatchStatus[])[] = [
  ['validating', 'in_progress', 'finalizing', 'completed'],
  ['validating', 'in_progress', 'finalizing', 'failed'],
  ['validating', 'in_progress', 'failed'],
  ['validating', 'in_progress', 'expired'],
  ['validating', 'in_progress', 'cancelling', 'cancelled'],
  ['validating', 'failed'],
  ['validating', 'expired'],
  ['validating', 'cancelling', 'cancelled'],
];

const isPrefixOfLifecycle = (history: BatchStatus[]) =>
  LIFECYCLES.some((path) => history.length <= path.length && history.every((status, i) => path[i] === status));

/** What callers may attempt, in any order: any status at all, validating included. */
const attempts = fc.array(fc.constantFrom(...BATCH_STATUSES), { maxLength: 30 });

/** The model: a move applies only when canTransition allows it, otherwise nothing changes. */
function run(moves: BatchStatus[]) {
  let status: BatchStatus = 'validating';
  const history: BatchStatus[] = [status];
  const after: BatchStatus[] = [];
  for (const to of moves) {
    if (canTransition(status, to)) {
      status = to;
      history.push(to);
    }
    after.push(status);
  }
  return { status, history, after };
}

describe('batch status machine properties', () => {
  it('never leaves a terminal status, never goes backwards, and only follows the lifecycle', () => {
    fc.assert(
      fc.property(attempts, (moves) => {
        const { history, after } = run(moves);
        // Once terminal, every later attempt leaves the status as it is.
        const firstTerminal = after.findIndex(isTerminal);
        if (firstTerminal !== -1) {
          expect(after.slice(firstTerminal).every((status) => status === after[firstTerminal])).toBe(true);
        }
        // Each applied move goes strictly forward, so no status is ever entered twice and validating never again.
        for (let i = 1; i < history.length; i++) {
          expect(RANK[history[i]], `${history[i - 1]} -> ${history[i]}`).toBeGreaterThan(RANK[history[i - 1]]);
        }
        expect(new Set(history).size).toBe(history.length);
        expect(history.length).toBeLessThanOrEqual(4);
        // The exact shape: completed only after finalizing, cancelled only after cancelling, and so on.
        expect(isPrefixOfLifecycle(history), history.join(' -> ')).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('reaches every lifecycle from validating, and a refused move changes nothing', () => {
    fc.assert(
      fc.property(fc.constantFrom(...LIFECYCLES), attempts, attempts, (path, noiseA, noiseB) => {
        // The lifecycle's own moves, with refused noise in between, still walk the whole path.
        const moves = path.slice(1).flatMap((to) => [to, ...noiseA.filter((s) => RANK[s] <= RANK[to])]);
        const { history, status } = run([...moves, ...noiseB]);
        expect(history.slice(0, path.length)).toEqual(path);
        expect(isTerminal(status)).toBe(true);
        expect(status).toBe(path.at(-1));
      }),
      { numRuns: 500 },
    );
  });

  it('a status nothing leaves is terminal, and every terminal status is reachable', () => {
    for (const from of BATCH_STATUSES) {
      const exits = BATCH_STATUSES.filter((to) => canTransition(from, to));
      expect(exits.length === 0, from).toBe(TERMINAL_STATUSES.includes(from));
    }
    expect(new Set(LIFECYCLES.map((path) => path.at(-1)))).toEqual(new Set(TERMINAL_STATUSES));
  });
});
