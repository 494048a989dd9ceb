import { Client } from 'pg';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchLines, numbered, startStub, uploadBatchInput } from '../support/batches';
import {
  adminRequest,
  expectEnvelope,
  flushTestRedis,
  newTenant,
  postJson,
  raw,
  type Tenant,
} from '../support/clients';
import { TEST_DATABASE_URL } from '../support/env';
import { startPrivateRedis, Teardown } from '../support/private-services';
import { type ApiHandle, newStorageDir, startApi, startWorker } from '../support/processes';
import { waitUntil } from '../support/poll';

const RATE_LIMIT = 20;
const MAX_OPEN_BATCHES = 3;
const AUTH_FAILURES = 5;
const LIMITS = {
  RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
  MAX_OPEN_BATCHES_PER_WORKSPACE: String(MAX_OPEN_BATCHES),
  AUTH_FAILURES_PER_MINUTE: String(AUTH_FAILURES),
  // The test stands in for a proxy on loopback: X-Forwarded-For then names the client.
  TRUST_PROXY: 'loopback',
};

/**
 * Limits shared by api replicas: two api processes on one PostgreSQL and one Redis count each key's requests
 * and each client address's failed authentications together, keep a workspace's open batches under its limit even
 * when creates race, and drop a revoked key from every key cache at once.
 */
describe('Limits and key caching across api replicas', () => {
  const storageDir = newStorageDir();
  let a: ApiHandle;
  let b: ApiHandle;
  let db: Client;

  beforeAll(async () => {
    await flushTestRedis();
    [a, b] = await Promise.all([startApi(LIMITS, storageDir), startApi(LIMITS, storageDir)]);
    db = new Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await db?.end();
  });

  const onBoth = (tenant: Tenant) => [
    tenant.client,
    new OpenAI({ baseURL: `${b.url}/v1`, apiKey: tenant.key, maxRetries: 0 }),
  ];

  describe('RATE_LIMIT_PER_MINUTE', () => {
    it('counts a key across both replicas: past the limit a 429 rate_limit_exceeded with retry-after', async () => {
      const tenant = await newTenant(a.url);
      const remaining: string[] = [];
      for (let i = 0; i < RATE_LIMIT; i++) {
        const answer = await raw(i % 2 === 0 ? a.url : b.url, '/v1/files', { key: tenant.key });
        expect(answer.status).toBe(200);
        expect(answer.headers.get('x-ratelimit-limit-requests')).toBe(String(RATE_LIMIT));
        expect(answer.headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+ms|\d+(\.\d+)?s|1m0s)$/);
        remaining.push(answer.headers.get('x-ratelimit-remaining-requests') ?? 'missing');
      }
      expect(remaining).toEqual(Array.from({ length: RATE_LIMIT }, (_, i) => String(RATE_LIMIT - 1 - i)));

      // The official SDK (retries off) sees its RateLimitError, on either replica.
      for (const client of onBoth(tenant)) {
        const error = await client.files.list().then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(OpenAI.RateLimitError);
        expect(error).toMatchObject({ status: 429, code: 'rate_limit_exceeded', type: 'requests', param: null });
      }

      const limited = await raw(b.url, '/v1/batches', { key: tenant.key });
      expectEnvelope(limited, 429, {
        code: 'rate_limit_exceeded',
        type: 'requests',
        message: new RegExp(`Limit ${RATE_LIMIT}, Used ${RATE_LIMIT}, Requested 1`),
      });
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
      expect(limited.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(limited.headers.get('x-ratelimit-limit-requests')).toBe(String(RATE_LIMIT));
    });

    it("does not touch another key's count, in the same workspace or another", async () => {
      const tenant = await newTenant(a.url);
      const sameWorkspace = await adminRequest<{ key: string }>(
        a.url,
        'POST',
        `/admin/workspaces/${tenant.workspaceId}/api-keys`,
        {},
      );
      const other = await newTenant(a.url);
      for (let i = 0; i <= RATE_LIMIT; i++) {
        await raw(i % 2 === 0 ? a.url : b.url, '/v1/files', { key: tenant.key });
      }
      expect((await raw(a.url, '/v1/files', { key: tenant.key })).status).toBe(429);
      for (const key of [sameWorkspace.key, other.key]) {
        const answer = await raw(b.url, '/v1/files', { key });
        expect(answer.status).toBe(200);
        expect(answer.headers.get('x-ratelimit-remaining-requests')).toBe(String(RATE_LIMIT - 1));
      }
    });

    it('counts every /v1 operation the api documents, whatever it answers', async () => {
      const spec = (await (await fetch(`${a.url}/docs-json`)).json()) as {
        paths: Record<string, Record<string, unknown>>;
      };
      const operations = Object.entries(spec.paths)
        .filter(([path]) => path.startsWith('/v1/'))
        .flatMap(([path, methods]) => Object.keys(methods).map((method) => [method.toUpperCase(), path] as const));
      expect(operations.length).toBeGreaterThanOrEqual(9);
      const uncounted: string[] = [];
      for (const [method, template] of operations) {
        const tenant = await newTenant(a.url);
        const path = template.replace(/\{[^}]+\}/g, 'unknown-id');
        const send = () =>
          raw(a.url, path, {
            method,
            key: tenant.key,
            ...(method === 'GET' ? {} : { headers: { 'content-type': 'application/json' }, body: '{}' }),
          });
        for (let i = 0; i < RATE_LIMIT; i++) {
          await send();
        }
        if ((await send()).status !== 429) {
          uncounted.push(`${method} ${template}`);
        }
      }
      expect(uncounted).toEqual([]);
    });
  });

  describe('AUTH_FAILURES_PER_MINUTE', () => {
    const wrongKey = `vk_${'w'.repeat(40)}`;
    const files = (url: string, key: string, address: string) =>
      raw(url, '/v1/files', { key, headers: { 'x-forwarded-for': address }, signal: AbortSignal.timeout(5000) });

    it('counts the wrong keys of a client address on both replicas: past the limit a 429 with retry-after, before any key lookup', async () => {
      const attacker = '203.0.113.7';
      for (let i = 0; i < AUTH_FAILURES; i++) {
        expectEnvelope(await files(i % 2 === 0 ? a.url : b.url, wrongKey, attacker), 401, { code: 'invalid_api_key' });
      }
      const limited = await files(b.url, wrongKey, attacker);
      expectEnvelope(limited, 429, {
        code: 'rate_limit_exceeded',
        message: new RegExp(`Too many failed authentications .* ${AUTH_FAILURES} per minute`),
      });
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);

      // Refused before the key is looked up: with api_keys locked, the limited address still gets its 429 at once.
      const lock = new Client({ connectionString: TEST_DATABASE_URL });
      await lock.connect();
      try {
        await lock.query('BEGIN');
        await lock.query('LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE');
        const started = Date.now();
        expect((await files(a.url, `vk_${'z'.repeat(40)}`, attacker)).status).toBe(429);
        expect(Date.now() - started).toBeLessThan(2000);
      } finally {
        await lock.query('ROLLBACK');
        await lock.end();
      }

      // Another address is not held back, with a right key or a wrong one.
      const tenant = await newTenant(a.url);
      expect((await files(a.url, tenant.key, '203.0.113.8')).status).toBe(200);
      expectEnvelope(await files(b.url, wrongKey, '203.0.113.8'), 401, { code: 'invalid_api_key' });
    });
  });

  describe('MAX_OPEN_BATCHES_PER_WORKSPACE', () => {
    const openBatches = async (workspaceId: string) =>
      Number(
        (
          await db.query<{ n: string }>(
            `SELECT count(*) AS n FROM batches WHERE workspace_id = $1 AND status NOT IN ('completed','failed','expired','cancelled')`,
            [workspaceId],
          )
        ).rows[0].n,
      );

    it('lets exactly the limit through when creates race on both replicas; a slot frees when a batch ends', async () => {
      const tenant = await newTenant(a.url);
      const other = await newTenant(a.url);
      const input = await uploadBatchInput(tenant.client, batchLines('/v1/chat/completions', 'm', numbered(2)));
      const create = (url: string) =>
        postJson(url, '/v1/batches', tenant.key, {
          input_file_id: input.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        });

      // No worker runs yet: every created batch stays open (validating).
      expect((await create(a.url)).status).toBe(200);
      const racing = await Promise.all(Array.from({ length: 8 }, (_, i) => create(i % 2 === 0 ? a.url : b.url)));
      const statuses = racing.map((answer) => answer.status).sort();
      expect(statuses).toEqual([200, 200, 429, 429, 429, 429, 429, 429]);
      for (const refused of racing.filter((answer) => answer.status === 429)) {
        expectEnvelope(refused, 429, { code: 'open_batch_limit_exceeded', message: /3 open batches/ });
        expect(refused.headers.get('x-should-retry')).toBe('false');
      }
      expect(await openBatches(tenant.workspaceId)).toBe(MAX_OPEN_BATCHES);

      // Through the SDK: a RateLimitError with the code; another workspace is not held back.
      const refused = await tenant.client.batches
        .create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
      expect(refused).toMatchObject({ status: 429, code: 'open_batch_limit_exceeded' });
      const otherInput = await uploadBatchInput(other.client, batchLines('/v1/chat/completions', 'm', numbered(1)));
      await other.client.batches.create({
        input_file_id: otherInput.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });

      // Once a worker completes them, the workspace may create batches again.
      const stub = await startStub();
      const worker = await startWorker(stub.url, storageDir);
      try {
        await waitUntil(async () => (await openBatches(tenant.workspaceId)) === 0, {
          what: 'the open batches to complete',
          timeoutMs: 30_000,
          intervalMs: 200,
        });
        expect((await create(b.url)).status).toBe(200);
      } finally {
        await worker.stop();
        await stub.close();
      }
    });
  });

  describe('key cache', () => {
    it('a revoke on one replica takes effect on the other at once', async () => {
      const tenant = await newTenant(a.url);
      expect((await raw(b.url, '/v1/files', { key: tenant.key })).status).toBe(200);

      // Revoked behind the api's back (no announcement): replica B still trusts its cached lookup.
      await db.query(`UPDATE api_keys SET revoked_at = now() WHERE id = $1`, [tenant.keyId]);
      expect((await raw(b.url, '/v1/files', { key: tenant.key })).status).toBe(200);

      // Revoked through replica A: B drops the key before its very next request.
      await adminRequest(a.url, 'DELETE', `/admin/api-keys/${tenant.keyId}`);
      expectEnvelope(await raw(b.url, '/v1/files', { key: tenant.key }), 401, { code: 'invalid_api_key' });
      expectEnvelope(await raw(a.url, '/v1/files', { key: tenant.key }), 401, { code: 'invalid_api_key' });
    });
  });
});

describe('With Redis unreachable', () => {
  const teardown = new Teardown();
  afterAll(() => teardown.run());

  it('the rate limits let requests through (logged) and the key cache is bypassed', async () => {
    const redis = await startPrivateRedis();
    teardown.add(() => redis.stop());
    const api = await startApi({ REDIS_URL: redis.url, RATE_LIMIT_PER_MINUTE: '2', AUTH_FAILURES_PER_MINUTE: '2' });
    teardown.add(() => api.stop());
    const tenant = await newTenant(api.url);
    const db = new Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    teardown.add(() => db.end());

    expect((await raw(api.url, '/v1/files', { key: tenant.key })).status).toBe(200); // looked up and cached
    await redis.stop();
    await api.process.waitForOutput(/Redis \(key revocations\) unreachable/);

    for (let i = 0; i < 4; i++) {
      const answer = await raw(api.url, '/v1/files', { key: tenant.key });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-ratelimit-limit-requests')).toBeNull();
    }
    expect(api.process.output).toMatch(/Rate limit not applied \(Redis cannot count requests\)/);
    for (let i = 0; i < 4; i++) {
      expectEnvelope(await raw(api.url, '/v1/files', { key: `vk_${'w'.repeat(40)}` }), 401, {
        code: 'invalid_api_key',
      });
    }

    // A revocation this replica cannot hear about (announced elsewhere while Redis is away) holds at once.
    await db.query(`UPDATE api_keys SET revoked_at = now() WHERE id = $1`, [tenant.keyId]);
    expectEnvelope(await raw(api.url, '/v1/files', { key: tenant.key }), 401, { code: 'invalid_api_key' });
    expect(api.process.output).not.toMatch(/Unhandled error/);
  });
});
