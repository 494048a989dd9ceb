import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, expectEnvelope, newTenant, postJson, raw, type Tenant } from '../support/clients';
import { ADMIN_KEY, TEST_DATABASE_URL } from '../support/env';
import { type ApiHandle, startApi } from '../support/processes';

const secret = (label: string) => `${label}${randomBytes(12).toString('hex')}`;

/**
 * Whatever goes wrong, the api's log keeps no secret: not the parameters or values of a failed insert (a webhook's
 * `whsec_` secret, a URL's password), not a key sent in a header, not the password in DATABASE_URL.
 */
describe.each(['text', 'json'])('Secrets in the api log (LOG_FORMAT=%s)', (format) => {
  // An insert into webhooks fails while this constraint stands (NOT VALID: the rows already there stay).
  const REFUSE_WEBHOOKS = 'log_test_refuses_webhooks';
  const databaseUrl = new URL(TEST_DATABASE_URL);
  // The test server trusts local connections: a password is accepted, and never needed.
  databaseUrl.password ||= secret('dbpass');
  const hookPassword = secret('hookpass');
  const unknownKey = `vk_${secret('')}`;
  const wrongAdminKey = secret('wrong-admin-key-');
  let api: ApiHandle;
  let tenant: Tenant;
  let db: Client;

  beforeAll(async () => {
    api = await startApi({ LOG_FORMAT: format, DATABASE_URL: databaseUrl.href });
    tenant = await newTenant(api.url);
    db = new Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
  });
  afterAll(async () => {
    await db?.query(`ALTER TABLE webhooks DROP CONSTRAINT IF EXISTS ${REFUSE_WEBHOOKS}`);
    await db?.end();
    await api?.stop();
  });

  it('logs where an insert failed (SQLSTATE, constraint, table), and no secret of the run', async () => {
    await db.query(`ALTER TABLE webhooks ADD CONSTRAINT ${REFUSE_WEBHOOKS} CHECK (false) NOT VALID`);
    try {
      const failed = await raw(api.url, `/admin/workspaces/${tenant.workspaceId}/webhooks`, {
        method: 'POST',
        key: ADMIN_KEY,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ url: `https://hook-user:${hookPassword}@1.1.1.1/venna-hook` }),
      });
      expectEnvelope(failed, 500, { type: 'server_error' });
    } finally {
      await db.query(`ALTER TABLE webhooks DROP CONSTRAINT ${REFUSE_WEBHOOKS}`);
    }
    expectEnvelope(await raw(api.url, '/v1/files', { key: unknownKey }), 401, { code: 'invalid_api_key' });
    expectEnvelope(await postJson(api.url, '/admin/workspaces', wrongAdminKey, { name: 'nope' }), 401, {
      code: 'invalid_api_key',
    });
    // A webhook made once the insert can succeed shows its secret to the caller, once.
    const created = await adminRequest<{ secret: string }>(
      api.url,
      'POST',
      `/admin/workspaces/${tenant.workspaceId}/webhooks`,
      { url: `https://hook-user:${hookPassword}@1.1.1.1/venna-hook` },
    );
    expect(created.secret).toMatch(/^whsec_/);

    await api.process.waitForOutput(/23514/);
    const log = api.process.output;
    expect(log).toMatch(new RegExp(`23514[\\s\\S]*${REFUSE_WEBHOOKS}|${REFUSE_WEBHOOKS}[\\s\\S]*23514`));
    expect(log).toMatch(/webhooks/);
    for (const [what, value] of [
      ['a webhook secret', 'whsec_'],
      ["the webhook URL's password", hookPassword],
      ["DATABASE_URL's password", databaseUrl.password],
      ['an unknown workspace key', unknownKey],
      ['a wrong admin key', wrongAdminKey],
      ["the tenant's key", tenant.key],
      ['the admin key', ADMIN_KEY],
    ]) {
      expect(log.includes(value), `the log shows ${what}`).toBe(false);
    }
  });
});
