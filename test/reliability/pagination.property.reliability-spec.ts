import fc from 'fast-check';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchLines, numbered, uploadBatchInput } from '../support/batches';
import { flushTestRedis, newTenant, raw, type Tenant } from '../support/clients';
import { TEST_DATABASE_URL } from '../support/env';
import { type ApiHandle, startApi } from '../support/processes';

/**
 * Paging through a list while other clients add and delete items: no item twice, and every item that
 * existed for the whole walk exactly once, in (created_at, id) order. Each run has a workspace of its own.
 */
describe('Cursor pagination while the collection changes', () => {
  let api: ApiHandle;
  let db: Client;

  beforeAll(async () => {
    await flushTestRedis();
    api = await startApi();
    db = new Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await api?.stop();
  });

  /** Shrinking re-runs the walk against the real api: bounded, and an interrupted run still fails. */
  const runs = (numRuns: number) => ({ numRuns, interruptAfterTimeLimit: 100_000, markInterruptAsFailure: true });

  /**
   * Ties: 'second' truncates the created_at of the items made before the walk to the second (so many share
   * one), 'same' gives them all one instant (so only the id orders them).
   */
  type Ties = 'none' | 'second' | 'same';
  const ties = fc.constantFrom<Ties>('none', 'second', 'same');

  async function makeTies(table: 'files' | 'batches', workspaceId: string, mode: Ties): Promise<void> {
    if (mode === 'none') {
      return;
    }
    const to =
      mode === 'second'
        ? `date_trunc('second', created_at)`
        : `(SELECT min(date_trunc('second', created_at)) FROM ${table} WHERE workspace_id = $1)`;
    await db.query(`UPDATE ${table} SET created_at = ${to} WHERE workspace_id = $1`, [workspaceId]);
  }

  /**
   * The declared order of everything the run ever created, from created_at to the microsecond and the id,
   * sorted by PostgreSQL under the same collation as the id column. Read while every item still exists.
   */
  async function recordCreatedAt(table: 'files' | 'batches', workspaceId: string, into: Map<string, string>) {
    const { rows } = await db.query<{ id: string; us: string }>(
      `SELECT id, (extract(epoch FROM created_at) * 1000000)::bigint::text AS us FROM ${table} WHERE workspace_id = $1`,
      [workspaceId],
    );
    for (const row of rows) {
      if (!into.has(row.id)) {
        into.set(row.id, row.us);
      }
    }
  }

  async function declaredRank(createdAt: Map<string, string>): Promise<Map<string, number>> {
    const { rows } = await db.query<{ id: string }>(
      `SELECT id FROM unnest($1::varchar[], $2::bigint[]) AS t(id, us) ORDER BY us, id`,
      [[...createdAt.keys()], [...createdAt.values()]],
    );
    return new Map(rows.map((row, rank) => [row.id, rank]));
  }

  interface Walk {
    returned: string[];
    pages: number;
  }

  /**
   * Pages through `path` until has_more is false, running `between(cursor, page)` before each next page.
   * Every page shows the list as it is when asked: only items that exist then (`exists`).
   */
  async function walk(
    tenant: Tenant,
    path: string,
    params: Record<string, string>,
    limit: number,
    maxPages: number,
    exists: (id: string) => boolean,
    between: (cursor: string, page: number) => Promise<void>,
  ): Promise<Walk> {
    const returned: string[] = [];
    let after: string | undefined;
    for (let page = 0; ; page++) {
      expect(page, `more than ${maxPages} pages: ${returned.join(' ')}`).toBeLessThan(maxPages);
      const query = new URLSearchParams({ ...params, limit: String(limit), ...(after ? { after } : {}) });
      const result = await raw(api.url, `${path}?${query.toString()}`, { key: tenant.key });
      expect(result.status, JSON.stringify(result.body)).toBe(200);
      const ids: string[] = result.body.data.map((item: { id: string }) => item.id);
      expect(ids.length).toBeLessThanOrEqual(limit);
      expect(result.body.first_id).toBe(ids[0] ?? null);
      expect(result.body.last_id).toBe(ids.at(-1) ?? null);
      expect(
        ids.filter((id) => !exists(id)),
        'items that do not exist now',
      ).toEqual([]);
      returned.push(...ids);
      if (!result.body.has_more) {
        return { returned, pages: page + 1 };
      }
      expect(ids).toHaveLength(limit);
      after = result.body.last_id as string;
      await between(after, page);
    }
  }

  /** The properties every walk must have, whatever happened between its pages. */
  async function checkWalk(
    { returned }: Walk,
    stable: string[],
    createdAt: Map<string, string>,
    direction: 'asc' | 'desc',
  ) {
    expect(new Set(returned).size, `an item came twice: ${returned.join(' ')}`).toBe(returned.length);
    for (const id of stable) {
      expect(
        returned.filter((seen) => seen === id),
        `${id} existed throughout`,
      ).toHaveLength(1);
    }
    const rank = await declaredRank(createdAt);
    const ranks = returned.map((id) => rank.get(id));
    expect(ranks.every((r) => r !== undefined)).toBe(true);
    const sorted = [...(ranks as number[])].sort((a, b) => (direction === 'asc' ? a - b : b - a));
    expect(ranks, 'pages in (created_at, id) order').toEqual(sorted);
  }

  it('files: each page after the last, in either order, while files are uploaded and deleted', async () => {
    const scenario = fc.record({
      initial: fc.integer({ min: 0, max: 10 }),
      limit: fc.integer({ min: 1, max: 4 }),
      order: fc.constantFrom<'asc' | 'desc' | undefined>('asc', 'desc', undefined),
      ties,
      gaps: fc.array(
        fc.record({
          add: fc.integer({ min: 0, max: 2 }),
          remove: fc.array(fc.nat(), { maxLength: 2 }),
        }),
        { maxLength: 6 },
      ),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async ({ initial, limit, order, ties: tieMode, gaps }) => {
        const tenant = await newTenant(api.url);
        let made = 0;
        const upload = async () => {
          const file = new File([`file ${++made}`], `f${made}.txt`);
          return (await tenant.client.files.create({ file, purpose: 'user_data' })).id;
        };
        // Uploaded at once, so some may share a millisecond as well.
        const before = await Promise.all(Array.from({ length: initial }, upload));
        await makeTies('files', tenant.workspaceId, tieMode);
        const createdAt = new Map<string, string>();
        await recordCreatedAt('files', tenant.workspaceId, createdAt);

        const live = new Set(before);
        const deleted = new Set<string>();
        const result = await walk(
          tenant,
          '/v1/files',
          order ? { order } : {},
          limit,
          2 * (initial + 2 * gaps.length) + 4,
          (id) => live.has(id),
          async (cursor, page) => {
            const gap = gaps[page];
            if (!gap) {
              return;
            }
            for (let i = 0; i < gap.add; i++) {
              live.add(await upload());
            }
            await recordCreatedAt('files', tenant.workspaceId, createdAt);
            // Any file but the cursor itself: the next page names it in `after`.
            const candidates = [...live].filter((id) => id !== cursor);
            for (const pick of gap.remove) {
              const victim = candidates.splice(pick % Math.max(1, candidates.length), 1)[0];
              if (victim) {
                await tenant.client.files.delete(victim);
                live.delete(victim);
                deleted.add(victim);
              }
            }
          },
        );
        const stable = before.filter((id) => !deleted.has(id));
        await checkWalk(result, stable, createdAt, order ?? 'desc');
      }),
      runs(20),
    );
  }, 120_000);

  it('batches: newest first, page after page, while batches are created', async () => {
    const scenario = fc.record({
      initial: fc.integer({ min: 0, max: 10 }),
      limit: fc.integer({ min: 1, max: 4 }),
      ties,
      gaps: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 6 }),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async ({ initial, limit, ties: tieMode, gaps }) => {
        const tenant = await newTenant(api.url);
        const input = await uploadBatchInput(tenant.client, batchLines('/v1/chat/completions', 'm', numbered(1)));
        const create = async () =>
          (
            await tenant.client.batches.create({
              input_file_id: input.id,
              endpoint: '/v1/chat/completions',
              completion_window: '24h',
            })
          ).id;
        const before = await Promise.all(Array.from({ length: initial }, create));
        await makeTies('batches', tenant.workspaceId, tieMode);
        const createdAt = new Map<string, string>();
        await recordCreatedAt('batches', tenant.workspaceId, createdAt);

        const result = await walk(
          tenant,
          '/v1/batches',
          {},
          limit,
          2 * initial + 4,
          (id) => createdAt.has(id),
          async (_cursor, page) => {
            for (let i = 0; i < (gaps[page] ?? 0); i++) {
              await create();
            }
            await recordCreatedAt('batches', tenant.workspaceId, createdAt);
          },
        );
        // Nothing deletes a batch, so every batch made before the walk existed throughout it.
        await checkWalk(result, before, createdAt, 'desc');
        // Newest first: a batch created after the first page is newer than every cursor, so never shown.
        expect(result.returned.filter((id) => !before.includes(id))).toEqual([]);
      }),
      runs(15),
    );
  }, 120_000);
});
