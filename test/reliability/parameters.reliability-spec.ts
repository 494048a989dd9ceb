import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminRequest,
  expectEnvelope,
  flushTestRedis,
  newTenant,
  postJson,
  raw,
  type Tenant,
} from '../support/clients';
import { batchLines, numbered, uploadBatchInput } from '../support/batches';
import { type ApiHandle, startApi } from '../support/processes';
import { StoredDataGuard } from '../support/reliability';

const CHAT = '/v1/chat/completions';

/** Query parameters, JSON bodies and keys that are wrong in every way a client can get them wrong. */
describe('Parameters, bodies and keys', () => {
  let api: ApiHandle;
  let tenant: Tenant;
  let guard: StoredDataGuard;
  let inputId: string;
  let batchId: string;

  beforeAll(async () => {
    await flushTestRedis();
    api = await startApi();
    tenant = await newTenant(api.url);
    guard = await StoredDataGuard.create(api, tenant);
    inputId = (await uploadBatchInput(tenant.client, batchLines(CHAT, 'm', numbered(1)))).id;
    batchId = (await tenant.client.batches.create({ input_file_id: inputId, endpoint: CHAT, completion_window: '24h' }))
      .id;
  });
  afterAll(() => api?.stop());

  const get = (path: string, key: string | null = tenant.key) => raw(api.url, path, { key });
  const create = (body: unknown) => postJson(api.url, '/v1/batches', tenant.key, body);
  const valid = () => ({ input_file_id: inputId, endpoint: CHAT, completion_window: '24h' });

  it.each([
    ['/v1/files', 'limit=0'],
    ['/v1/files', 'limit=-1'],
    ['/v1/files', 'limit=abc'],
    ['/v1/files', 'limit=1.5'],
    ['/v1/files', 'limit=10001'],
    ['/v1/files', 'limit=100001'],
    ['/v1/files', 'limit=1&limit=2'],
    ['/v1/batches', 'limit=0'],
    ['/v1/batches', 'limit=-1'],
    ['/v1/batches', 'limit=abc'],
    ['/v1/batches', 'limit=101'],
    ['/v1/batches', 'limit=100001'],
  ])('%s?%s: 400 naming limit', async (path, query) => {
    expectEnvelope(await get(`${path}?${query}`), 400, { param: 'limit', message: /'limit'/ });
  });

  it.each([['order=sideways'], ['order=ASC%20;DROP'], ['order=']])('/v1/files?%s: 400 naming order', async (query) => {
    expectEnvelope(await get(`/v1/files?${query}`), 400, { param: 'order' });
  });

  it.each([
    ['/v1/files', 'after=file-unknown'],
    ['/v1/batches', 'after=batch_unknown'],
  ])('%s?%s (an unknown cursor): 400 naming after', async (path, query) => {
    expectEnvelope(await get(`${path}?${query}`), 400, { param: 'after' });
  });

  it("another workspace's ids as cursors: 400, and its list shows nothing of ours", async () => {
    const stranger = await newTenant(api.url);
    expectEnvelope(await get(`/v1/files?after=${inputId}`, stranger.key), 400, { param: 'after' });
    expectEnvelope(await get(`/v1/batches?after=${batchId}`, stranger.key), 400, { param: 'after' });
    expect((await get('/v1/files', stranger.key)).body).toMatchObject({ data: [], has_more: false });
    expect((await get('/v1/batches', stranger.key)).body).toMatchObject({ data: [], has_more: false });
  });

  it.each([
    ['17 keys', Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])), 'metadata'],
    ['a 65-character key', { ['k'.repeat(65)]: 'v' }, 'metadata'],
    ['a 513-character value', { k: 'v'.repeat(513) }, 'metadata'],
    ['a number value', { k: 5 }, 'metadata'],
    ['an object value', { k: { nested: true } }, 'metadata'],
    ['a null value', { k: null }, 'metadata'],
    ['an array', ['a'], 'metadata'],
    ['a string', 'meta', 'metadata'],
  ])('metadata with %s: 400 naming it, no batch created', async (_what, metadata, param) => {
    const before = (await tenant.client.batches.list()).data.length;
    const result = await create({ ...valid(), metadata });
    expectEnvelope(result, 400);
    expect(String(result.body.error.param)).toMatch(new RegExp(`^${param}`));
    expect((await tenant.client.batches.list()).data).toHaveLength(before);
  });

  it.each([
    ['input_file_id a number', { input_file_id: 5 }, 'input_file_id'],
    ['endpoint unknown', { endpoint: '/v1/images/variations' }, 'endpoint'],
    ['endpoint with a NUL', { endpoint: '/v1/chat/completions\u0000' }, 'endpoint'],
    ['completion_window unknown', { completion_window: '1y' }, 'completion_window'],
    ['completion_window a number', { completion_window: 24 }, 'completion_window'],
    [
      'output_expires_after without seconds',
      { output_expires_after: { anchor: 'created_at' } },
      'output_expires_after',
    ],
    [
      'output_expires_after with a bad anchor',
      { output_expires_after: { anchor: 'now', seconds: 3600 } },
      'output_expires_after',
    ],
  ])('%s: 400 naming the parameter, no batch created', async (_what, change, param) => {
    const before = (await tenant.client.batches.list()).data.length;
    const result = await create({ ...valid(), ...change });
    expectEnvelope(result, 400);
    expect(String(result.body.error.param)).toMatch(new RegExp(`^${param}`));
    expect((await tenant.client.batches.list()).data).toHaveLength(before);
  });

  it('a 10 MB JSON body: 413 in the envelope, the api still answers', async () => {
    const before = guard.snapshot();
    const result = await create({ ...valid(), metadata: { k: 'x'.repeat(10 * 1024 * 1024) } });
    expectEnvelope(result, 413);
    await guard.check(before);
  });

  it.each([
    ['malformed JSON', 'application/json', '{"input_file_id":'],
    ['JSON that is an array', 'application/json', '[1,2,3]'],
    ['JSON that is a string', 'application/json', '"batch"'],
    ['plain text', 'text/plain', 'input_file_id=file-1'],
    ['form-urlencoded', 'application/x-www-form-urlencoded', 'input_file_id=file-1&endpoint=x'],
    ['no body at all', undefined, undefined],
  ])('POST /v1/batches with %s: 400, never a 500', async (_what, contentType, body) => {
    const result = await raw(api.url, '/v1/batches', {
      method: 'POST',
      key: tenant.key,
      headers: contentType ? { 'content-type': contentType } : {},
      body,
    });
    expectEnvelope(result, 400);
  });

  it('a revoked key is refused at once on every endpoint; another key of the workspace still works', async () => {
    const second = await adminRequest<{ id: string; key: string }>(
      api.url,
      'POST',
      `/admin/workspaces/${tenant.workspaceId}/api-keys`,
      {},
    );
    expect((await get('/v1/batches', second.key)).status).toBe(200);
    await adminRequest(api.url, 'DELETE', `/admin/api-keys/${second.id}`);
    for (const [method, path] of [
      ['GET', '/v1/files'],
      ['POST', '/v1/files'],
      ['GET', `/v1/files/${inputId}`],
      ['GET', `/v1/files/${inputId}/content`],
      ['DELETE', `/v1/files/${inputId}`],
      ['GET', '/v1/batches'],
      ['POST', '/v1/batches'],
      ['GET', `/v1/batches/${batchId}`],
      ['POST', `/v1/batches/${batchId}/cancel`],
    ]) {
      expectEnvelope(await raw(api.url, path, { method, key: second.key }), 401, { code: 'invalid_api_key' });
    }
    expect((await tenant.client.files.retrieve(inputId)).id).toBe(inputId);
    expect((await tenant.client.batches.retrieve(batchId)).id).toBe(batchId);
  });
});
