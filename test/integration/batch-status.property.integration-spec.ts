import fc from 'fast-check';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatchEntity,
  type BatchStatus,
  BatchTransitions,
  isTerminal,
  newBatchId,
  newWorkspaceId,
  TIMESTAMP_OF,
} from '@app/core';
import { migratedDataSource } from '../support/database';
import { canTransition, STATUS_RANK as RANK } from '../support/batch-status-model';

type Target = Exclude<BatchStatus, 'validating'>;

const TARGETS: Target[] = ['in_progress', 'failed', 'finalizing', 'completed', 'expired', 'cancelling', 'cancelled'];

/** One attempted move: where to, and the lease token it claims to hold (if any). */
interface Move {
  to: Target;
  token?: string;
}

/** The pure model of one move: canTransition, and a token (when given) must be the batch's. */
const applies = (status: BatchStatus, rowToken: string | null, move: Move) =>
  canTransition(status, move.to) && (move.token === undefined || move.token === rowToken);

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) {
    return [items];
  }
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

/**
 * The concurrent moves of a group must look as if they ran one after another in some order: returns the
 * successful moves in that order when such an order gives exactly the results the database reported.
 */
function serialize(status: BatchStatus, rowToken: string | null, group: Move[], results: boolean[]) {
  for (const order of permutations(group.map((_, i) => i))) {
    let current = status;
    const applied: number[] = [];
    const consistent = order.every((i) => {
      const ok = applies(current, rowToken, group[i]);
      if (ok) {
        current = group[i].to;
        applied.push(i);
      }
      return ok === results[i];
    });
    if (consistent) {
      return { status: current, applied };
    }
  }
  return null;
}

const move: fc.Arbitrary<Move> = fc.record(
  { to: fc.constantFrom(...TARGETS), token: fc.constantFrom('tok-a', 'tok-b') },
  { requiredKeys: ['to'] },
);
/** Steps run one after another; the moves within a step race each other. */
const steps = fc.array(fc.array(move, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 });

/** The real guarded UPDATE on PostgreSQL agrees with the pure model, also when moves race. */
describe('BatchTransitions against the status model', () => {
  let dataSource: DataSource;
  let transitions: BatchTransitions;
  let workspaceId: string;

  beforeAll(async () => {
    dataSource = await migratedDataSource(20);
    transitions = new BatchTransitions(dataSource);
    workspaceId = newWorkspaceId();
    await dataSource.query(`INSERT INTO workspaces (id, name) VALUES ($1, $1)`, [workspaceId]);
  });
  afterAll(() => dataSource?.destroy());

  async function newBatch(token: string | null): Promise<string> {
    const id = newBatchId();
    await dataSource.query(
      `INSERT INTO batches (id, workspace_id, endpoint, input_file_id, completion_window, status, expires_at,
                            finalizer_token)
       VALUES ($1, $2, '/v1/chat/completions', 'file-x', '24h', 'validating', clock_timestamp() + interval '1 day', $3)`,
      [id, workspaceId, token],
    );
    return id;
  }
  const load = (id: string) => dataSource.getRepository(BatchEntity).findOneByOrFail({ id });

  it('applies exactly the moves the model allows, never leaving a terminal status, stamping each once', async () => {
    let counter = 0;
    await fc.assert(
      fc.asyncProperty(steps, fc.constantFrom(null, 'tok-a'), async (groups, rowToken) => {
        const id = await newBatch(rowToken);
        let status: BatchStatus = 'validating';
        /** Every status the batch entered, in the order the successful moves applied. */
        const history: BatchStatus[] = ['validating'];
        /** The status the row held after each step, as read back from the database. */
        const observed: BatchStatus[] = ['validating'];
        let lastWritten = 0;
        for (const group of groups) {
          // Each move writes a value of its own with the status: the row must end with the winner's only.
          const values = group.map(() => ++counter);
          const results = await Promise.all(
            group.map((m, i) =>
              transitions.move(
                id,
                m.to,
                { requestCompleted: values[i] },
                m.token === undefined ? {} : { finalizerToken: m.token },
              ),
            ),
          );
          const serial = serialize(status, rowToken, group, results);
          expect(serial, `no order of ${JSON.stringify(group)} from ${status} gives ${String(results)}`).not.toBeNull();
          if (!serial) {
            return;
          }
          for (const i of serial.applied) {
            status = group[i].to;
            history.push(status);
            lastWritten = values[i];
          }
          const row = await load(id);
          expect(row.status).toBe(status);
          expect(row.requestCompleted).toBe(lastWritten);
          observed.push(row.status);
        }

        // What the database held, step by step: once terminal it stays so, and it never goes back.
        const terminalAt = observed.findIndex(isTerminal);
        if (terminalAt !== -1) {
          expect(new Set(observed.slice(terminalAt)).size, observed.join(' -> ')).toBe(1);
        }
        for (let i = 1; i < observed.length; i++) {
          expect(RANK[observed[i]], observed.join(' -> ')).toBeGreaterThanOrEqual(RANK[observed[i - 1]]);
        }

        const row = await load(id);
        expect(new Set(history).size).toBe(history.length);
        // Exactly the statuses entered carry their timestamp, in the order they were entered.
        for (const to of TARGETS) {
          const stamp = row[TIMESTAMP_OF[to] as keyof BatchEntity];
          expect(stamp instanceof Date, `${to} stamped`).toBe(history.includes(to));
        }
        const stamps = history
          .slice(1)
          .map((s) => (row[TIMESTAMP_OF[s as Target] as keyof BatchEntity] as Date).getTime());
        expect([...stamps].sort((a, b) => a - b)).toEqual(stamps);
      }),
      { numRuns: 50 },
    );
  });
});
