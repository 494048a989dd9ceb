import { Client } from 'pg';
import { TEST_DATABASE_URL } from './env';

export interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Sort Key'?: string[];
  Plans?: PlanNode[];
}

/**
 * Sorts of table rows: what an index should have given in order. The coalesced reads (PreparedReads) may sort
 * their answer rows by request (`coalesced.batch_n`): a few rows per request, after the scans.
 */
export const rowSorts = (plan: PlanNode[]): PlanNode[] =>
  plan.filter(
    (node) => /Sort$/.test(node['Node Type']) && !(node['Sort Key']?.[0] ?? '').startsWith('coalesced.batch_n'),
  );

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
    const literal = (value: unknown): string =>
      value === null
        ? 'NULL'
        : typeof value === 'number'
          ? String(value)
          : Array.isArray(value)
            ? client.escapeLiteral(`{${(value as (string | number | null)[]).map(arrayElement).join(',')}}`)
            : client.escapeLiteral(value as string);
    const literals = values.map(literal);
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (FORMAT JSON) EXECUTE statement_under_test(${literals.join(', ')})`,
    );
    return planNodes(rows[0]['QUERY PLAN'][0].Plan);
  } finally {
    await client.end();
  }
}

/** One element of a PostgreSQL array's text form. */
const arrayElement = (value: string | number | null): string =>
  value === null ? 'NULL' : `"${String(value).replace(/[\\"]/g, (c) => `\\${c}`)}"`;
