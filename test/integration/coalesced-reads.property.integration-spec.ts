import fc from 'fast-check';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '@app/core';
import { FilesService } from '../../apps/api/src/files/files.service';
import { filesServiceOver, repositoriesOver } from '../support/builders';
import { migratedDataSource } from '../support/database';

const WORKSPACES = ['ws_coalesce_a', 'ws_coalesce_b', 'ws_coalesce_empty'];

/** Files of two workspaces: both purposes, several sharing one created_at (ties broken by id), one expired. */
const FILES = [
  ...Array.from({ length: 12 }, (_, i) => ({
    id: `file-coalesce-a${String(i).padStart(2, '0')}`,
    workspace: WORKSPACES[0],
    purpose: i % 3 === 0 ? 'user_data' : 'batch',
    second: Math.floor(i / 3),
    expired: i === 7,
  })),
  ...Array.from({ length: 5 }, (_, i) => ({
    id: `file-coalesce-b${i}`,
    workspace: WORKSPACES[1],
    purpose: 'batch',
    second: i,
    expired: false,
  })),
];
const IDS = [...FILES.map((file) => file.id), 'file-coalesce-none'];

type Read =
  | { kind: 'get'; workspace: string; id: string }
  | {
      kind: 'list';
      workspace: string;
      limit: number;
      order: 'asc' | 'desc';
      purpose?: string;
      after?: string;
    };

const read: fc.Arbitrary<Read> = fc.oneof(
  fc.record({ kind: fc.constant('get'), workspace: fc.constantFrom(...WORKSPACES), id: fc.constantFrom(...IDS) }),
  fc.record(
    {
      kind: fc.constant('list'),
      workspace: fc.constantFrom(...WORKSPACES),
      limit: fc.integer({ min: 1, max: 5 }),
      order: fc.constantFrom('asc', 'desc'),
      purpose: fc.constantFrom('batch', 'user_data'),
      after: fc.constantFrom(...IDS),
    },
    { requiredKeys: ['kind', 'workspace', 'limit', 'order'] },
  ),
);

/**
 * Reads started together share one execution of their statement (PreparedReads): whatever the mix of
 * workspaces, cursors, limits, orders and filters, each must answer exactly what it answers alone.
 */
describe('Coalesced reads', () => {
  let dataSource: DataSource;
  let files: FilesService;

  beforeAll(async () => {
    dataSource = await migratedDataSource(4);
    files = filesServiceOver(repositoriesOver(dataSource));
    for (const workspace of WORKSPACES) {
      await dataSource.query(`INSERT INTO workspaces (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING`, [workspace]);
    }
    await dataSource.query(`DELETE FROM files WHERE workspace_id = ANY($1)`, [WORKSPACES]);
    for (const file of FILES) {
      await dataSource.query(
        `INSERT INTO files (id, workspace_id, purpose, filename, bytes, storage_key, created_at, expires_at)
         VALUES ($1, $2, $3, $4, 1, $4, '2026-01-01T00:00:00Z'::timestamptz + make_interval(secs => $5),
                 CASE WHEN $6 THEN now() - interval '1 hour' END)`,
        [file.id, file.workspace, file.purpose, `${file.id}.jsonl`, file.second, file.expired],
      );
    }
  });
  afterAll(() => dataSource?.destroy());

  /** What a read answers: the file's JSON or the page (ids, JSON, has_more), or the parameter its 4xx names. */
  const answer = (r: Read): Promise<unknown> =>
    (r.kind === 'get'
      ? files.getWire(r.workspace, r.id)
      : files.list(r.workspace, {
          limit: r.limit,
          order: r.order,
          purpose: r.purpose,
          after: r.after,
        })
    ).catch((error: unknown) => {
      // Only the refusals a read may answer (404, 400 naming a parameter) are answers; anything else fails the property.
      if (!(error instanceof AppError)) {
        throw error;
      }
      return { refused: error.param ?? error.code };
    });

  it('each read started together answers what it answers alone', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(read, { minLength: 2, maxLength: 12 }), async (reads) => {
        const together = await Promise.all(reads.map(answer));
        const alone: unknown[] = [];
        for (const r of reads) {
          alone.push(await answer(r));
        }
        expect(together).toEqual(alone);
      }),
      { numRuns: 60 },
    );
  });

  it('alone, a page is the files of its workspace in order, after its cursor', async () => {
    // The reference the property compares with, checked once against the rows themselves.
    const page = await files.list(WORKSPACES[0], { limit: 4, order: 'asc', after: 'file-coalesce-a02' } as never);
    expect(page.items.map((item) => item.id)).toEqual([
      'file-coalesce-a03',
      'file-coalesce-a04',
      'file-coalesce-a05',
      'file-coalesce-a06',
    ]);
    expect(page.hasMore).toBe(true);
    const other = await files.list(WORKSPACES[1], { limit: 10, order: 'desc' } as never);
    expect(other.items.map((item) => item.id)).toEqual(
      FILES.slice(12)
        .map((file) => file.id)
        .reverse(),
    );
  });
});
