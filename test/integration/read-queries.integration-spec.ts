import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Request } from 'express';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  hashApiKey,
  PreparedReads,
  QUEUE_PREFIX,
  QueueName,
  redisOptionsFromUrl,
  validateEnvironment,
} from '@app/core';
import { BatchesService } from '../../apps/api/src/batches/batches.service';
import { ApiEnvironment } from '../../apps/api/src/config/api-environment';
import { FilesService } from '../../apps/api/src/files/files.service';
import { ApiRedis } from '../../apps/api/src/redis/api-redis';
import { apiKeyGuardOver, batchesServiceOver, filesServiceOver, repositoriesOver } from '../support/builders';
import { migratedDataSource } from '../support/database';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';
import { genericPlan, type PlanNode, rowSorts } from '../support/query-plans';
import { waitUntil } from '../support/poll';

interface Statement {
  text: string;
  values: unknown[];
}

/** Every statement any pg client sends (TypeORM's and the prepared reads alike), to count and plan them. */
function recordStatements(): Statement[] {
  const statements: Statement[] = [];
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with the client as `this`
  const query = Client.prototype.query as (...args: unknown[]) => unknown;
  const recording = function (this: Client, ...args: unknown[]) {
    const [first, values] = args as [string | Partial<Statement>, unknown[] | undefined];
    statements.push(
      typeof first === 'string'
        ? { text: first, values: Array.isArray(values) ? values : [] }
        : { text: first.text ?? '', values: first.values ?? [] },
    );
    return query.apply(this, args);
  };
  vi.spyOn(Client.prototype, 'query').mockImplementation(recording);
  return statements;
}

const WORKSPACE = 'ws_read_queries';
const SECRET = `vk_${'R'.repeat(40)}`;

/**
 * The hot reads (what a client polls): each is one statement PostgreSQL answers from an index, without a
 * sequential scan or a sort, and a key found in the cache costs no statement at all.
 */
describe('Read paths', () => {
  let statements: Statement[];
  let dataSource: DataSource;
  let files: FilesService;
  let batches: BatchesService;
  let queue: Queue;
  let redis: ApiRedis;
  let fileIds: string[];
  let batchIds: string[];

  beforeAll(async () => {
    dataSource = await migratedDataSource(2);
    const env = validateEnvironment(ApiEnvironment, {
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      STORAGE_DIR: mkdtempSync(join(tmpdir(), 'venna-read-')),
    });
    const repositories = repositoriesOver(dataSource);
    files = filesServiceOver(repositories, env.STORAGE_DIR);
    queue = new Queue(QueueName.Batches, { connection: redisOptionsFromUrl(TEST_REDIS_URL), prefix: QUEUE_PREFIX });
    batches = batchesServiceOver(repositories, files, queue, env);
    redis = new ApiRedis(env);

    await dataSource.query(`INSERT INTO workspaces (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING`, [WORKSPACE]);
    await dataSource.query(
      `INSERT INTO api_keys (id, workspace_id, name, key_hash, key_prefix) VALUES ('key_read', $1, 'r', $2, 'vk_RRRRR')
       ON CONFLICT DO NOTHING`,
      [WORKSPACE, hashApiKey(SECRET)],
    );
    fileIds = ['file-read-1', 'file-read-2', 'file-read-3'];
    for (const id of fileIds) {
      await dataSource.query(
        `INSERT INTO files (id, workspace_id, purpose, filename, bytes, storage_key) VALUES ($1, $2, 'batch', 'in.jsonl', 1, $3)
         ON CONFLICT DO NOTHING`,
        [id, WORKSPACE, `key-${id}`],
      );
    }
    // Enough rows that the planner's choices are those of a real table, not of a page or two.
    await dataSource.query(
      `INSERT INTO files (id, workspace_id, purpose, filename, bytes, storage_key, created_at)
       SELECT 'file-fill-' || i, $1, 'batch', 'f.jsonl', 1, 'k-' || i, now() - interval '1 day' - make_interval(secs => i)
         FROM generate_series(1, 5000) i ON CONFLICT DO NOTHING`,
      [WORKSPACE],
    );
    await dataSource.query(
      `INSERT INTO batches (id, workspace_id, endpoint, input_file_id, completion_window, status, expires_at, created_at)
       SELECT 'batch_fill_' || i, $1, '/v1/chat/completions', 'file-read-1', '24h', 'completed', now(),
              now() - interval '1 day' - make_interval(secs => i)
         FROM generate_series(1, 5000) i ON CONFLICT DO NOTHING`,
      [WORKSPACE],
    );
    await dataSource.query(
      `WITH w AS (INSERT INTO workspaces (id, name) SELECT 'ws_fill_' || i, 'fill ' || i FROM generate_series(1, 5000) i
                  ON CONFLICT DO NOTHING RETURNING id)
       INSERT INTO api_keys (id, workspace_id, key_hash, key_prefix) SELECT 'key_' || w.id, w.id, md5(w.id) || md5(w.id), 'vk_fill' FROM w`,
    );
    batchIds = ['batch_read_1', 'batch_read_2'];
    for (const id of batchIds) {
      await dataSource.query(
        `INSERT INTO batches (id, workspace_id, endpoint, input_file_id, completion_window, status, expires_at)
         VALUES ($1, $2, '/v1/chat/completions', 'file-read-1', '24h', 'completed', now() + interval '1 day')
         ON CONFLICT DO NOTHING`,
        [id, WORKSPACE],
      );
    }
  });
  beforeAll(() => dataSource.query('ANALYZE files, batches, api_keys, workspaces'));
  afterAll(async () => {
    await queue?.close();
    await redis?.onModuleDestroy();
    await dataSource?.destroy();
  });
  beforeEach(() => {
    statements = recordStatements();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** The one statement the read sent, with the generic plan PostgreSQL settles on for it. */
  async function onlyStatementPlan(): Promise<PlanNode[]> {
    expect(statements.map((statement) => statement.text)).toHaveLength(1);
    const plan = await genericPlan(statements[0].text, statements[0].values);
    const types = plan.map((node) => node['Node Type']);
    expect(types).not.toContain('Seq Scan');
    expect(rowSorts(plan)).toEqual([]);
    return plan;
  }
  const indexes = (plan: PlanNode[]) => plan.map((node) => node['Index Name']).filter(Boolean);

  const idOf = (json: string) => (JSON.parse(json) as { id: string }).id;

  it('retrieve a file (its JSON, as clients poll it, and the entity): one statement on the primary key', async () => {
    expect(idOf(await files.getWire(WORKSPACE, 'file-read-2'))).toBe('file-read-2');
    expect(indexes(await onlyStatementPlan())).toEqual(['files_pkey']);
    statements.length = 0;
    expect((await files.get(WORKSPACE, 'file-read-2')).id).toBe('file-read-2');
    expect(indexes(await onlyStatementPlan())).toEqual(['files_pkey']);
  });

  it('list files, first page and after a cursor: one statement, one index range', async () => {
    expect((await files.list(WORKSPACE, { limit: 3 } as never)).items.map((f) => f.id)).toEqual([...fileIds].reverse());
    expect(indexes(await onlyStatementPlan())).toContain('files_workspace_created_idx');
    statements.length = 0;
    expect((await files.list(WORKSPACE, { limit: 1, after: 'file-read-3' } as never)).items[0].id).toBe('file-read-2');
    expect(indexes(await onlyStatementPlan()).sort()).toEqual(['files_pkey', 'files_workspace_created_idx']);
  });

  it('an unknown cursor still answers 400, after a second statement only for the empty page', async () => {
    await expect(files.list(WORKSPACE, { limit: 1, after: 'file-elsewhere' } as never)).rejects.toMatchObject({
      param: 'after',
    });
    expect(statements).toHaveLength(2);
  });

  it('retrieve a batch (its JSON, as clients poll it, and the entity): one statement on the primary key', async () => {
    expect(idOf(await batches.getWire(WORKSPACE, 'batch_read_1'))).toBe('batch_read_1');
    expect(indexes(await onlyStatementPlan())).toEqual(['batches_pkey']);
    statements.length = 0;
    expect((await batches.get(WORKSPACE, 'batch_read_1')).id).toBe('batch_read_1');
    expect(indexes(await onlyStatementPlan())).toEqual(['batches_pkey']);
  });

  it('reads started together share one execution of each statement, each answered alone', async () => {
    const files2 = (await files.list(WORKSPACE, { limit: 2 } as never)).items.map((f) => f.id);
    statements.length = 0;
    const notFound = (read: Promise<unknown>) =>
      read.then(
        () => 'found',
        (error: { param?: string }) => error.param,
      );
    const [first, third, missing, elsewhere, page, purposePage, batch] = await Promise.all([
      files.getWire(WORKSPACE, 'file-read-1'),
      files.getWire(WORKSPACE, 'file-read-3'),
      notFound(files.getWire(WORKSPACE, 'file-nowhere')),
      // Another workspace's request in the same execution does not see this workspace's file.
      notFound(files.getWire('ws_fill_1', 'file-read-1')),
      files.list(WORKSPACE, { limit: 2 } as never),
      files.list(WORKSPACE, { limit: 1, purpose: 'user_data' } as never),
      batches.getWire(WORKSPACE, 'batch_read_2'),
    ]);
    expect([idOf(first), idOf(third), missing, elsewhere]).toEqual(['file-read-1', 'file-read-3', 'id', 'id']);
    expect(page.items.map((f) => f.id)).toEqual(files2);
    expect(page.hasMore).toBe(true);
    expect(purposePage).toEqual({ items: [], hasMore: false });
    expect(idOf(batch)).toBe('batch_read_2');
    // One execution each: the file reads, the two pages (same order, no cursor), the batch read.
    expect(statements).toHaveLength(3);
    expect(statements.find((s) => /FROM files t WHERE t.id/.test(s.text))?.values[0]).toEqual([
      'file-read-1',
      'file-read-3',
      'file-nowhere',
      'file-read-1',
    ]);
  });

  it('a value PostgreSQL refuses fails only the read that sent it, not those it was coalesced with', async () => {
    const [refused, fine] = await Promise.allSettled([
      files.getWire(WORKSPACE, 'file-\u0000'),
      files.getWire(WORKSPACE, 'file-read-2'),
    ]);
    expect(refused.status).toBe('rejected');
    expect(fine.status === 'fulfilled' && idOf(fine.value)).toBe('file-read-2');
  });

  it('a page above 100 runs alone: it would hold up the small pages it shared an execution with', async () => {
    const [large, larger, small, smaller] = await Promise.all([
      files.list(WORKSPACE, { limit: 101 } as never),
      files.list(WORKSPACE, { limit: 500 } as never),
      files.list(WORKSPACE, { limit: 100 } as never),
      files.list(WORKSPACE, { limit: 3 } as never),
    ]);
    expect([large.items.length, larger.items.length, small.items.length, smaller.items.length]).toEqual([
      101, 500, 100, 3,
    ]);
    expect(statements.map((statement) => (statement.values[0] as unknown[]).length).sort()).toEqual([1, 1, 2]);
  });

  it('with READ_COALESCING=false, reads started together each run their own execution', async () => {
    const apart = filesServiceOver(repositoriesOver(dataSource, { readCoalescing: false }));
    const [first, third, page] = await Promise.all([
      apart.getWire(WORKSPACE, 'file-read-1'),
      apart.getWire(WORKSPACE, 'file-read-3'),
      apart.list(WORKSPACE, { limit: 2, order: 'desc' }),
    ]);
    expect([idOf(first), idOf(third), page.items.length]).toEqual(['file-read-1', 'file-read-3', 2]);
    expect(statements.map((statement) => (statement.values[0] as unknown[]).length)).toEqual([1, 1, 1]);
  });

  it('a statement PostgreSQL cannot run fails its reads once, without running each alone', async () => {
    const reads = new PreparedReads(dataSource, { READ_COALESCING: true });
    const broken = {
      name: 'test.broken',
      types: ['text'],
      text: (p: (i: number) => string) => `SELECT ${p(1)} FROM no_such_table`,
    };
    const results = await Promise.allSettled([
      reads.rows(broken, ['a']),
      reads.rows(broken, ['b']),
      reads.rows(broken, ['c']),
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(statements).toHaveLength(1);
  });

  it('a key lookup: one statement on the key hash, none once the key is cached', async () => {
    const apiEnv = validateEnvironment(ApiEnvironment, {
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      STORAGE_DIR: '.',
    });
    const { guard, cache } = apiKeyGuardOver(repositoriesOver(dataSource), redis, apiEnv);
    const request = { headers: { authorization: `Bearer ${SECRET}` } } as Request;
    const context = { switchToHttp: () => ({ getRequest: () => request }) } as unknown as ExecutionContext;
    expect(await guard.canActivate(context)).toBe(true);
    expect(request.workspace?.id).toBe(WORKSPACE);
    expect(indexes(await onlyStatementPlan())).toEqual(
      expect.arrayContaining(['api_keys_key_hash_key', 'workspaces_pkey']),
    );

    // The cache is trusted once it listens for revocations; from then on the key costs no statement.
    cache.onModuleInit();
    const servedFromCache = async () => {
      statements.length = 0;
      expect(await guard.canActivate(context)).toBe(true);
      return statements.length === 0;
    };
    await waitUntil(servedFromCache, { what: 'the key to be served from the cache', timeoutMs: 5000, intervalMs: 20 });
    expect(request.apiKeyId).toBe('key_read');
  });
});
