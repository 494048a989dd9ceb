import { DataSource, type ObjectLiteral, type SelectQueryBuilder } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BatchEntity, dataSourceOptions, FileEntity, runMigrations } from '@app/core';
import { keysetPage } from '../../apps/api/src/common/list-page';
import { TEST_DATABASE_URL } from '../support/env';

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];

/** The list pages as PostgreSQL plans them: the cursor starts an index range, so a deep page costs what page 1 does. */
describe('List page queries', () => {
  let dataSource: DataSource;

  beforeAll(async () => {
    await runMigrations(TEST_DATABASE_URL);
    dataSource = await new DataSource(dataSourceOptions(TEST_DATABASE_URL, 2)).initialize();
  });
  afterAll(() => dataSource?.destroy());

  async function planOf<T extends ObjectLiteral>(
    query: SelectQueryBuilder<T>,
    alias: string,
    direction: 'ASC' | 'DESC',
  ) {
    vi.spyOn(query, 'getMany').mockResolvedValue([]);
    await keysetPage(query, alias, {
      limit: 20,
      after: 'the-cursor',
      direction,
      cursorExists: () => Promise.resolve(true),
      itemName: 'Item',
    });
    const [sql, parameters] = query.getQueryAndParameters();
    return dataSource.transaction(async (manager) => {
      // Empty tables: without this the planner would rightly scan them; the question is what it can do.
      await manager.query('SET LOCAL enable_seqscan = off');
      const [{ 'QUERY PLAN': plan }] = await manager.query<[{ 'QUERY PLAN': [{ Plan: PlanNode }] }]>(
        `EXPLAIN (FORMAT JSON) ${sql}`,
        parameters,
      );
      return nodes(plan[0].Plan);
    });
  }

  it.each(['ASC', 'DESC'] as const)('files (%s): one index range from the cursor, no sort', async (direction) => {
    const query = dataSource
      .getRepository(FileEntity)
      .createQueryBuilder('f')
      .where('f.workspace_id = :workspaceId', { workspaceId: 'ws' });
    const plan = await planOf(query, 'f', direction);
    const scan = plan.find((node) => node['Index Name'] === 'files_workspace_created_idx');
    expect(scan?.['Index Cond']).toMatch(/ROW\(created_at, \(id\)::text\) [<>] ROW/);
    expect(plan.map((node) => node['Node Type'])).not.toContain('Sort');
  });

  it('batches: one index range from the cursor, no sort', async () => {
    const query = dataSource
      .getRepository(BatchEntity)
      .createQueryBuilder('b')
      .where('b.workspace_id = :workspaceId', { workspaceId: 'ws' });
    const plan = await planOf(query, 'b', 'DESC');
    const scan = plan.find((node) => node['Index Name'] === 'batches_workspace_created_idx');
    expect(scan?.['Index Cond']).toMatch(/ROW\(created_at, \(id\)::text\) < ROW/);
    expect(plan.map((node) => node['Node Type'])).not.toContain('Sort');
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
          dataSource
            .getRepository(FileEntity)
            .createQueryBuilder('f')
            .where('f.workspace_id = :workspaceId', { workspaceId }),
          'f',
          { limit: 1, after, direction, cursorExists: () => Promise.resolve(true), itemName: 'File' },
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
