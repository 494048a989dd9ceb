import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  coalescedText,
  FILE_WIRE,
  keysetPage,
  keysetStatement,
  PreparedReads,
  type RowSource,
  type WireRow,
} from '@app/core';
import { BATCH_WIRE } from '../../apps/api/src/batches/dto/batch-object.dto';
import { migratedDataSource } from '../support/database';
import { genericPlan, type PlanNode, rowSorts } from '../support/query-plans';

/** The scan that pages, not the cursor's own lookup (which may use the same index on empty tables). */
const startsRange = (node: PlanNode) => /ROW\(/.test(node['Index Cond'] ?? '');

/**
 * The list pages as PostgreSQL plans their prepared statements (generic plans, the worst case): the cursor starts
 * an index range, so a deep page costs what page 1 does.
 */
describe('List page queries', () => {
  let dataSource: DataSource;
  let reads: PreparedReads;

  beforeAll(async () => {
    dataSource = await migratedDataSource(2);
    reads = new PreparedReads(dataSource, { READ_COALESCING: true });
  });
  afterAll(() => dataSource?.destroy());

  // The lists select each object's JSON as PostgreSQL writes it (WireShape), for requests coalesced in one execution.
  const planAfterCursor = (source: RowSource<WireRow>, direction: 'ASC' | 'DESC') =>
    genericPlan(
      coalescedText({
        name: 'test',
        types: ['text', 'text', 'int'],
        text: keysetStatement(source.select, source.table, () => '', direction, true, 2),
      }),
      [
        ['ws', 'ws-2'],
        ['the-cursor', 'another'],
        [21, 11],
      ],
    );

  it.each(['ASC', 'DESC'] as const)('files (%s): one index range from the cursor, no sort', async (direction) => {
    const plan = await planAfterCursor(reads.wireSource(FILE_WIRE), direction);
    const scan = plan.find((node) => node['Index Name'] === 'files_workspace_created_idx' && startsRange(node));
    expect(scan?.['Index Cond']).toMatch(/ROW\(created_at, \(id\)::text\) [<>] ROW/);
    expect(rowSorts(plan)).toEqual([]);
  });

  it('batches: one index range from the cursor, no sort', async () => {
    const plan = await planAfterCursor(reads.wireSource(BATCH_WIRE), 'DESC');
    const scan = plan.find((node) => node['Index Name'] === 'batches_workspace_created_idx' && startsRange(node));
    expect(scan?.['Index Cond']).toMatch(/ROW\(created_at, \(id\)::text\) < ROW/);
    expect(rowSorts(plan)).toEqual([]);
  });

  it.each(['ASC', 'DESC'] as const)(
    'pages (%s) through rows whose created_at differ by microseconds: each once, in order',
    async (direction) => {
      const workspaceId = `ws-micro-${direction}`;
      await dataSource.query(`INSERT INTO workspaces (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING`, [workspaceId]);
      const ids = ['file-m1', 'file-m2', 'file-m3', 'file-m4'].map((id) => `${id}-${direction}`);
      // The same millisecond, 100 µs apart: what rows written with the column default hold.
      for (const [i, id] of ids.entries()) {
        await dataSource.query(
          `INSERT INTO files (id, workspace_id, purpose, filename, bytes, storage_key, created_at)
           VALUES ($1, $2, 'user_data', 'f', 0, 'k', '2026-01-01T00:00:00.000Z'::timestamptz + make_interval(secs => $3))`,
          [id, workspaceId, (i + 1) * 0.0001],
        );
      }
      const seen: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < ids.length + 2; page++) {
        const { items, hasMore } = await keysetPage(
          { source: reads.wireSource(FILE_WIRE), name: 'test.files', filter: () => '', values: [], types: [] },
          { limit: 1, after, direction, workspaceId, cursorExists: () => Promise.resolve(true), itemName: 'File' },
        );
        seen.push(...items.map((file) => file.id));
        after = items.at(-1)?.id;
        if (!hasMore) {
          break;
        }
      }
      expect(seen).toEqual(direction === 'ASC' ? ids : [...ids].reverse());
    },
  );
});
