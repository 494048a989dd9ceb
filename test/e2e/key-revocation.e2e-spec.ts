import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvelope, newTenant, raw, type Tenant } from '../support/clients';
import { ADMIN_KEY, TEST_DATABASE_URL } from '../support/env';
import { type PrivateRedis, startPrivateRedis, Teardown } from '../support/private-services';
import { type ApiHandle, startApi } from '../support/processes';
import { TcpProxy } from '../support/tcp-proxy';
import { waitUntil } from '../support/poll';

/** How soon a replica whose subscription went silent stops trusting its key cache (its ping bound, with slack). */
const PING_BOUND_MS = 3000;
const WRITE_PAUSE_MS = 4000;

/**
 * A revoke that answered 2xx holds on every api replica at once, or the revoke answers 503; a replica trusts its
 * key cache only while pings through the revocation channel come back. Two replicas on a Redis of the test's own,
 * replica B through a TCP proxy that can make its connections go silent without closing them.
 */
describe('Key revocation across api replicas', () => {
  const teardown = new Teardown();
  let redis: PrivateRedis;
  let proxy: TcpProxy;
  let a: ApiHandle;
  let b: ApiHandle;
  let db: Client;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    teardown.add(() => redis.stop());
    proxy = await TcpProxy.start(redis.port);
    teardown.add(() => proxy.close());
    a = await startApi({ REDIS_URL: redis.url });
    teardown.add(() => a.stop());
    b = await startApi({ REDIS_URL: `redis://127.0.0.1:${proxy.port}/0` }, a.storageDir);
    teardown.add(() => b.stop());
    db = new Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    teardown.add(() => db.end());
  });
  afterAll(() => teardown.run());

  const files = (url: string, tenant: Tenant) => raw(url, '/v1/files', { key: tenant.key });
  const revoke = (url: string, tenant: Tenant) =>
    raw(url, `/admin/api-keys/${tenant.keyId}`, { method: 'DELETE', key: ADMIN_KEY });
  const revokeBehindTheApisBack = (tenant: Tenant) =>
    db.query(`UPDATE api_keys SET revoked_at = now() WHERE id = $1`, [tenant.keyId]);

  /** Until `url` answers for the key from its cache: revoked behind its back, it still says 200 (then restored). */
  async function cachedOn(url: string, tenant: Tenant): Promise<void> {
    const answersFromCache = async () => {
      expect((await files(url, tenant)).status).toBe(200);
      await revokeBehindTheApisBack(tenant);
      const answer = await files(url, tenant);
      await db.query(`UPDATE api_keys SET revoked_at = NULL WHERE id = $1`, [tenant.keyId]);
      return answer.status === 200;
    };
    await waitUntil(answersFromCache, { what: `${url} to trust its key cache`, timeoutMs: 10_000 });
  }

  it('a revoke that Redis cannot confirm answers 503 with retry-after, keeps the key revoked, and its retry answers 200', async () => {
    const tenant = await newTenant(a.url);
    await cachedOn(b.url, tenant);

    await redis.pause(WRITE_PAUSE_MS, 'WRITE');
    const pausedAt = Date.now();
    const refused = await revoke(a.url, tenant);
    expectEnvelope(refused, 503, { code: 'service_unavailable', type: 'server_error' });
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(Date.now() - pausedAt, 'the revoke gave up after Redis was back').toBeLessThan(WRITE_PAUSE_MS);
    const row = await db.query<{ revoked_at: Date | null }>(`SELECT revoked_at FROM api_keys WHERE id = $1`, [
      tenant.keyId,
    ]);
    expect(row.rows[0].revoked_at).not.toBeNull();
    // B heard nothing (its pings cannot be published either), so it no longer trusts its cache.
    expectEnvelope(await files(b.url, tenant), 401, { code: 'invalid_api_key' });

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, pausedAt + WRITE_PAUSE_MS - Date.now())));
    expect(await revoke(a.url, tenant)).toMatchObject({ status: 200, body: { id: tenant.keyId, revoked: true } });
    expectEnvelope(await files(b.url, tenant), 401, { code: 'invalid_api_key' });
    expectEnvelope(await files(a.url, tenant), 401, { code: 'invalid_api_key' });
  });

  it('a replica whose subscription goes silent stops trusting its cache within the ping bound', async () => {
    const tenant = await newTenant(a.url);
    await cachedOn(b.url, tenant);

    proxy.freeze();
    try {
      await revokeBehindTheApisBack(tenant);
      await waitUntil(async () => (await files(b.url, tenant)).status !== 200, {
        what: 'B to stop trusting a cache it hears nothing for',
        timeoutMs: PING_BOUND_MS,
      });
      expectEnvelope(await files(b.url, tenant), 401, { code: 'invalid_api_key' });
    } finally {
      proxy.thaw();
    }
  });

  it('a revoke answers 200 only once a replica that went silent no longer trusts its cache', async () => {
    const tenant = await newTenant(a.url);
    await cachedOn(b.url, tenant);

    proxy.freeze();
    try {
      const revoked = await revoke(a.url, tenant);
      expect(revoked).toMatchObject({ status: 200, body: { id: tenant.keyId, revoked: true } });
      expectEnvelope(await files(b.url, tenant), 401, { code: 'invalid_api_key' });
    } finally {
      proxy.thaw();
    }
    // Once B hears the channel again it trusts its cache again, without the revoked key.
    const other = await newTenant(a.url);
    await cachedOn(b.url, other);
    expectEnvelope(await files(b.url, tenant), 401, { code: 'invalid_api_key' });
  });
});
