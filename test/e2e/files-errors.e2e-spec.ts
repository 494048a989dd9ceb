import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, expectEnvelope, newTenant, raw, type Tenant } from '../support/clients';
import { type ApiHandle, startApi } from '../support/processes';

const MAX_UPLOAD = 64 * 1024;

function form(parts: Record<string, string | Blob>, file?: { content: string | Buffer; name: string }): FormData {
  const data = new FormData();
  if (file) {
    data.append('file', new Blob([file.content]), file.name);
  }
  for (const [key, value] of Object.entries(parts)) {
    data.append(key, value);
  }
  return data;
}

const filesIn = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));

/** What the SDK cannot send: bad keys, bad forms, oversize bodies, bad parameters. Raw HTTP. */
describe('Files API errors', () => {
  let api: ApiHandle;
  let tenant: Tenant;

  beforeAll(async () => {
    api = await startApi({ MAX_UPLOAD_BYTES: String(MAX_UPLOAD), BATCH_MAX_REQUESTS: '3' });
    tenant = await newTenant(api.url);
  });
  afterAll(() => api.stop());

  const upload = (data: FormData, key: string | null = tenant.key) =>
    raw(api.url, '/v1/files', { method: 'POST', body: data, key });

  it('answers 401 invalid_api_key for a missing, malformed, unknown or revoked key on every endpoint', async () => {
    const other = await newTenant(api.url);
    await adminRequest(api.url, 'DELETE', `/admin/api-keys/${other.keyId}`);
    const revokedAndBad = [null, 'sk-not-ours', `vk_${'x'.repeat(40)}`, other.key];
    const calls: [string, string][] = [
      ['POST', '/v1/files'],
      ['GET', '/v1/files'],
      ['GET', '/v1/files/file-abc'],
      ['DELETE', '/v1/files/file-abc'],
      ['GET', '/v1/files/file-abc/content'],
    ];
    for (const key of revokedAndBad) {
      for (const [method, path] of calls) {
        const result = await raw(api.url, path, { method, key });
        expectEnvelope(result, 401, { code: 'invalid_api_key', type: 'invalid_request_error' });
      }
    }
    const missing = await raw(api.url, '/v1/files');
    expect(missing.body.error.message).toMatch(/You didn't provide an API key/);
  });

  it('answers 404 "No such File object" with param id for unknown ids', async () => {
    for (const [method, path] of [
      ['GET', '/v1/files/file-doesnotexist'],
      ['DELETE', '/v1/files/file-doesnotexist'],
      ['GET', '/v1/files/file-doesnotexist/content'],
    ]) {
      expectEnvelope(await raw(api.url, path, { method, key: tenant.key }), 404, {
        param: 'id',
        message: /^No such File object: file-doesnotexist$/,
      });
    }
  });

  it('rejects a bad or missing purpose and a missing file, keeping no bytes', async () => {
    expectEnvelope(await upload(form({ purpose: 'world_domination' }, { content: 'x', name: 'x.txt' })), 400, {
      param: 'purpose',
      message: /'world_domination' is not one of \['assistants', 'batch'/,
    });
    expectEnvelope(await upload(form({}, { content: 'x', name: 'x.txt' })), 400, {
      param: 'purpose',
      message: /Missing required parameter: 'purpose'/,
    });
    expectEnvelope(await upload(form({ purpose: 'batch' })), 400, { param: 'file' });
    expectEnvelope(
      await upload(
        form(
          { purpose: 'user_data', 'expires_after[anchor]': 'created_at', 'expires_after[seconds]': '60' },
          { content: 'x', name: 'x.txt' },
        ),
      ),
      400,
      { param: 'expires_after.seconds' },
    );
    expect(filesIn(api.storageDir)).toEqual([]);
  });

  it('checks batch files as they stream and names the bad line, whatever the field order', async () => {
    const good = '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}\n';
    const fileFirst = await upload(
      form({ purpose: 'batch' }, { content: `${good}${good}{"broken":\n${good}`, name: 'in.jsonl' }),
    );
    expectEnvelope(fileFirst, 400, { param: 'file', message: /Line 3 is not parseable as valid JSON/ });

    const purposeFirst = new FormData();
    purposeFirst.append('purpose', 'batch');
    purposeFirst.append('file', new Blob([`${good}[1,2]\n`]), 'in.jsonl');
    expectEnvelope(await upload(purposeFirst), 400, { message: /Line 2 is not a JSON object/ });

    expectEnvelope(await upload(form({ purpose: 'batch' }, { content: good, name: 'in.csv' })), 400, {
      message: /Invalid file format for Batch API. Must be .jsonl/,
    });
    expectEnvelope(await upload(form({ purpose: 'batch' }, { content: good.repeat(4), name: 'in.jsonl' })), 400, {
      message: /Line 4: a batch can hold at most 3 requests/,
    });
    expectEnvelope(
      await upload(form({ purpose: 'batch' }, { content: Buffer.from([0x7b, 0xff, 0x7d, 0x0a]), name: 'in.jsonl' })),
      400,
      {
        message: /Line 1 is not valid UTF-8/,
      },
    );
    expect(filesIn(api.storageDir)).toEqual([]);
    // The same bytes under another purpose are just a file.
    expect((await upload(form({ purpose: 'user_data' }, { content: '{"broken":\n', name: 'in.jsonl' }))).status).toBe(
      200,
    );
  });

  it('answers 413 over MAX_UPLOAD_BYTES, leaves nothing half-written, and loses nothing already stored', async () => {
    const kept = await upload(form({ purpose: 'user_data' }, { content: 'keep me', name: 'keep.txt' }));
    expect(kept.status).toBe(200);
    const before = filesIn(api.storageDir);

    const tooBig = await upload(
      form({ purpose: 'user_data' }, { content: Buffer.alloc(MAX_UPLOAD + 1, 7), name: 'big.bin' }),
    );
    expectEnvelope(tooBig, 413, { param: 'file', message: /File is too large/ });
    expect(filesIn(api.storageDir)).toEqual(before);

    const content = await raw(api.url, `/v1/files/${kept.body.id}/content`, { key: tenant.key });
    expect(content.body).toBe('keep me');
  });

  it('leaves nothing behind when the client disconnects in the middle of an upload', async () => {
    const before = filesIn(api.storageDir);
    const { port } = new URL(api.url);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    const head = '--b\r\nContent-Disposition: form-data; name="file"; filename="half.bin"\r\n\r\n';
    socket.write(
      `POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tenant.key}\r\n` +
        `Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n${head}`,
    );
    socket.write(Buffer.alloc(20_000, 1));
    await expect.poll(() => filesIn(api.storageDir).some((f) => f.includes('.partial')), { timeout: 3000 }).toBe(true);
    socket.destroy();
    await expect.poll(() => filesIn(api.storageDir), { timeout: 3000 }).toEqual(before);
    expect((await raw(api.url, '/v1/files', { key: tenant.key })).status).toBe(200);
  });

  it('rejects bad list parameters with param set', async () => {
    for (const [query, param] of [
      ['limit=0', 'limit'],
      ['limit=10001', 'limit'],
      ['limit=abc', 'limit'],
      ['order=sideways', 'order'],
      ['after=file-unknown', 'after'],
    ]) {
      expectEnvelope(await raw(api.url, `/v1/files?${query}`, { key: tenant.key }), 400, { param });
    }
  });

  it('answers unknown routes and malformed bodies in the envelope, never a 500', async () => {
    expectEnvelope(await raw(api.url, '/v1/nothing-here', { key: tenant.key }), 404, {
      message: /^Unknown request URL: GET \/v1\/nothing-here\.$/,
      type: 'invalid_request_error',
      code: 'unknown_url',
    });
    const notMultipart = await raw(api.url, '/v1/files', {
      method: 'POST',
      key: tenant.key,
      headers: { 'content-type': 'multipart/form-data; boundary=zzz' },
      body: '--zzz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nabc',
    });
    expect(notMultipart.status).toBe(400);
    expectEnvelope(notMultipart, 400);
    await expect
      .poll(() => filesIn(api.storageDir).filter((f) => f.includes('partial')), { timeout: 3000 })
      .toEqual([]);
  });
});
