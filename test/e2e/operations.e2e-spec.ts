import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, expectEnvelope, newTenant, postJson, raw } from '../support/clients';
import { QUEUE_PREFIX, QueueName } from '@app/core';
import { ADMIN_KEY, TEST_DATABASE_URL, TEST_REDIS_HOST, TEST_REDIS_SPARE_DB, TEST_REDIS_URL } from '../support/env';
import { batchLines, createBatch, numbered } from '../support/batches';
import { type ApiHandle, newStorageDir, spawnApp, startApi } from '../support/processes';

/** What an operator meets: configuration checks, the admin API, the bootstrap key, Swagger, health. */
describe('Operating the api', () => {
  let api: ApiHandle;

  beforeAll(async () => {
    api = await startApi({ BOOTSTRAP_API_KEY: `vk_${'B'.repeat(40)}` });
  });
  afterAll(() => api.stop());

  it.each([
    [{ DATABASE_URL: undefined }, /^Configuration error: DATABASE_URL must be a postgres:\/\/user@host:port\/db URL$/m],
    [{ REDIS_URL: 'localhost:6379' }, /^Configuration error: REDIS_URL must be a redis:\/\/host:port\/db URL$/m],
    [{ PORT: 'eighty' }, /^Configuration error: PORT must be an integer between 1 and 65535$/m],
    [{ MAX_UPLOAD_BYTES: '-5' }, /^Configuration error: MAX_UPLOAD_BYTES must be an integer of at least 1$/m],
    [{ BOOTSTRAP_API_KEY: 'sk-123' }, /^Configuration error: BOOTSTRAP_API_KEY must be vk_/m],
  ])('stops at start-up with one clear line for a bad variable (%o)', async (overrides, message) => {
    const child = spawnApp('api', {
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      STORAGE_DIR: newStorageDir(),
      ...overrides,
    });
    expect(await child.waitForExit()).toBe(1);
    expect(child.output).toMatch(message);
    expect(child.output.trim().split('\n')).toHaveLength(1);
  });

  it('creates workspaces and keys, shows a key once, and revokes it', async () => {
    const workspace = await adminRequest<any>(api.url, 'POST', '/admin/workspaces', { name: 'ops-team' });
    expect(workspace).toEqual({
      id: expect.any(String),
      name: 'ops-team',
      created_at: expect.any(Number),
      monthly_token_budget: null,
    });
    const key = await adminRequest<any>(api.url, 'POST', `/admin/workspaces/${workspace.id}/api-keys`, { name: 'ci' });
    expect(key).toMatchObject({ workspace_id: workspace.id, name: 'ci' });
    expect(key.key).toMatch(/^vk_[0-9A-Za-z]{32,}$/);
    const listed = await adminRequest<any>(api.url, 'GET', '/admin/workspaces');
    expect(listed.data.map((w: { name: string }) => w.name)).toContain('ops-team');
    expect(JSON.stringify(listed)).not.toContain(key.key);

    expect((await raw(api.url, '/v1/files', { key: key.key })).status).toBe(200);
    await adminRequest(api.url, 'DELETE', `/admin/api-keys/${key.id}`);
    expectEnvelope(await raw(api.url, '/v1/files', { key: key.key }), 401, { code: 'invalid_api_key' });

    expectEnvelope(await postJson(api.url, '/admin/workspaces', ADMIN_KEY, { name: 'ops-team' }), 400, {
      param: 'name',
    });
    expectEnvelope(await raw(api.url, '/admin/workspaces/ws_nope/api-keys', { method: 'POST', key: ADMIN_KEY }), 404);
    expectEnvelope(await raw(api.url, '/admin/api-keys/key_nope', { method: 'DELETE', key: ADMIN_KEY }), 404);
    expectEnvelope(await raw(api.url, '/admin/workspaces', { key: 'wrong-admin-key-123456' }), 401);
    expectEnvelope(await raw(api.url, '/admin/workspaces', { key: key.key }), 401);
  });

  it('keeps the admin API off without ADMIN_API_KEY', async () => {
    const closed = await startApi({ ADMIN_API_KEY: undefined });
    try {
      expectEnvelope(await raw(closed.url, '/admin/workspaces', { key: ADMIN_KEY }), 404);
    } finally {
      await closed.stop();
    }
  });

  it('ensures the bootstrap workspace and key idempotently across restarts', async () => {
    const bootstrap = `vk_${'B'.repeat(40)}`;
    expect((await raw(api.url, '/v1/files', { key: bootstrap })).status).toBe(200);
    const again = await startApi({ BOOTSTRAP_API_KEY: bootstrap });
    try {
      expect((await raw(again.url, '/v1/files', { key: bootstrap })).status).toBe(200);
      const workspaces = await adminRequest<any>(again.url, 'GET', '/admin/workspaces');
      expect(workspaces.data.filter((w: { name: string }) => w.name === 'default')).toHaveLength(1);
    } finally {
      await again.stop();
    }
  });

  it('enqueues into the Redis database REDIS_URL names', async () => {
    // Never flushed: with parallel runs on one server, this db may be another run's own.
    const spareUrl = `redis://${TEST_REDIS_HOST}/${TEST_REDIS_SPARE_DB}`;
    const dbApi = await startApi({ REDIS_URL: spareUrl });
    const redis = new Redis(spareUrl);
    const queue = new Queue(QueueName.Batches, { connection: redis, prefix: QUEUE_PREFIX });
    let batchId: string | undefined;
    try {
      const tenant = await newTenant(dbApi.url);
      const batch = await createBatch(
        tenant.client,
        '/v1/chat/completions',
        batchLines('/v1/chat/completions', 'm', numbered(1)),
      );
      batchId = batch.id;
      expect(await redis.exists(`venna:batches:${batch.id}`)).toBe(1);
    } finally {
      await (batchId ? queue.remove(batchId).catch(() => 0) : 0);
      await queue.close();
      redis.disconnect();
      await dbApi.stop();
    }
  });

  it('serves Swagger UI and an OpenAPI document that describes every endpoint', async () => {
    const ui = await fetch(`${api.url}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger-ui');
    const doc = (await (await fetch(`${api.url}/docs-json`)).json()) as any;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/files',
        '/v1/files/{file_id}',
        '/v1/files/{file_id}/content',
        '/v1/batches',
        '/v1/batches/{batch_id}',
        '/v1/batches/{batch_id}/cancel',
        '/admin/workspaces',
      ]),
    );
    expect(doc.components.securitySchemes['workspace-key'].description).toBe(
      'Workspace API key — Authorization: Bearer vk_.... Billing targets the key workspace.',
    );
    const upload = doc.paths['/v1/files'].post.requestBody.content['multipart/form-data'].schema;
    expect(upload.properties.file).toEqual(expect.objectContaining({ type: 'string', format: 'binary' }));
    expect(upload.required).toEqual(['file', 'purpose']);
    const batchSchema = doc.components.schemas.BatchObjectDto;
    expect(batchSchema.required).toEqual(expect.arrayContaining(['id', 'request_counts', 'usage', 'output_file_id']));
    expect(doc.paths['/v1/files'].get.responses['200'].content['application/json'].schema.$ref).toBe(
      '#/components/schemas/FileListDto',
    );
  });

  it('answers an unexpected failure with a bare 500 server_error and logs its stack', async () => {
    const broken = await startApi({}, '/dev/null/not-a-directory');
    try {
      const tenant = await newTenant(broken.url);
      const data = new FormData();
      data.append('purpose', 'user_data');
      data.append('file', new Blob(['x']), 'x.txt');
      const answer = await raw(broken.url, '/v1/files', { method: 'POST', key: tenant.key, body: data });
      expectEnvelope(answer, 500, {
        type: 'server_error',
        code: 'server_error',
        param: null,
        message: /^The server had an error while processing your request/,
      });
      expect(JSON.stringify(answer.body)).not.toMatch(/ENOTDIR|dev\/null|at /);
      await broken.process.waitForOutput(/ENOTDIR[\s\S]*\n\s+at /);
    } finally {
      await broken.stop();
    }
  });

  it('reports health of the database and Redis', async () => {
    const health = await raw(api.url, '/health');
    expect(health.status).toBe(200);
    expect(health.body.info).toMatchObject({ database: { status: 'up' }, redis: { status: 'up' } });
  });
});
