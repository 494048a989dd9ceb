import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvelope, flushTestRedis, newTenant, postJson, raw, type Tenant } from '../support/clients';
import { batchLines, numbered, uploadBatchInput } from '../support/batches';
import { type ApiHandle, startApi } from '../support/processes';

/** Ids and text a database cannot hold or that aim at other rows: a clear 4xx, never a 500, nothing stored lost. */
describe('Hostile ids and text', () => {
  let api: ApiHandle;
  let tenant: Tenant;
  let keptFileId: string;

  beforeAll(async () => {
    await flushTestRedis();
    api = await startApi();
    tenant = await newTenant(api.url);
    keptFileId = (await uploadBatchInput(tenant.client, batchLines('/v1/chat/completions', 'm', numbered(2)))).id;
  });
  afterAll(() => api?.stop());

  const get = (path: string) => raw(api.url, path, { key: tenant.key });
  const send = (method: string, path: string) => raw(api.url, path, { method, key: tenant.key });

  it.each([
    ['GET', '/v1/files/%00'],
    ['GET', '/v1/files/file-abc%00def/content'],
    ['DELETE', '/v1/files/%00'],
    ['GET', '/v1/batches/%00'],
    ['POST', '/v1/batches/batch_%00/cancel'],
    ['GET', '/v1/files?after=%00'],
    ['GET', '/v1/batches?after=x%00'],
  ])('%s %s with a NUL byte: 400 naming the parameter', async (method, path) => {
    const result = await send(method, path);
    expectEnvelope(result, 400, { message: /NUL character/ });
  });

  it.each([
    ['a percent sign', '%25'],
    ['quotes', `'"'`],
    ['SQL', `x' OR '1'='1`],
    ['path metacharacters', '..%2F..%2Fetc%2Fpasswd'],
    ['10,000 characters', 'f'.repeat(10_000)],
  ])('an id with %s names nothing: 404', async (_what, id) => {
    expectEnvelope(await get(`/v1/files/${id}`), 404);
    expectEnvelope(await get(`/v1/batches/${id}`), 404);
  });

  it('metadata with a NUL character: 400 naming the key, no batch created', async () => {
    const before = (await tenant.client.batches.list()).data.length;
    const result = await postJson(api.url, '/v1/batches', tenant.key, {
      input_file_id: keptFileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { note: 'a\u0000b' },
    });
    expectEnvelope(result, 400, { param: 'metadata.note', message: /NUL character/ });
    expect((await tenant.client.batches.list()).data).toHaveLength(before);
  });

  it('a filename with a NUL character: 400, nothing stored, earlier files intact', async () => {
    // A raw NUL breaks the part header (busboy refuses it); the RFC 5987 form decodes to one.
    const boundary = 'venna-boundary';
    const body = [
      `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8''in%00put.jsonl\r\n`,
      `Content-Type: application/octet-stream\r\n\r\n${batchLines('/v1/chat/completions', 'm', numbered(1))}\r\n`,
      `--${boundary}--\r\n`,
    ].join('');
    const result = await raw(api.url, '/v1/files', {
      method: 'POST',
      key: tenant.key,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
    });
    expectEnvelope(result, 400, { param: 'file', message: /NUL character/ });
    const files = await tenant.client.files.list();
    expect(files.data.map((file) => file.id)).toEqual([keptFileId]);
    expect(await (await tenant.client.files.content(keptFileId)).text()).toContain('req-1');
  });
});
