import { Client } from 'pg';
import { TEST_DATABASE_URL } from './env';

export interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

export const planNodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(planNodes)];

/**
 * The plan PostgreSQL keeps for a prepared statement once it settles on a generic one (what a named statement
 * runs with after its first executions), for the given values.
 */
export async function genericPlan(text: string, values: unknown[]): Promise<PlanNode[]> {
  const client = new Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query('SET plan_cache_mode = force_generic_plan');
    await client.query(`PREPARE statement_under_test AS ${text}`);
    const literals = values.map((value) =>
      value === null
        ? 'NULL'
        : typeof value === 'number'
          ? String(value)
          : client.escapeLiteral(String(value as string)),
    );
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (FORMAT JSON) EXECUTE statement_under_test(${literals.join(', ')})`,
    );
    return planNodes(rows[0]['QUERY PLAN'][0].Plan);
  } finally {
    await client.end();
  }
}
