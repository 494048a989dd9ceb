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
      findCursor: () => Promise.resolve({ createdAt: new Date(), id: 'the-cursor' }),
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
});
