import { randomBytes } from 'node:crypto';
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newTenant, type Tenant } from '../support/clients';
import { type ApiHandle } from '../support/processes';
import { type TestStorage } from '../support/storage';
import { startStack, type Stack } from '../support/stack';

/** The Files API through the official SDK, as a client would use it (on the storage this run tests). */
describe('Files API with the openai SDK', () => {
  let stack: Stack;
  let storage: TestStorage;
  let api: ApiHandle;
  let tenant: Tenant;

  beforeAll(async () => {
    stack = await startStack({ storage: true });
    ({ storage, api, tenant } = stack);
  });
  afterAll(() => stack?.stop());

  it('uploads a streamed batch file (chunked, no Content-Length) and answers the OpenAI File object', async () => {
    const path = join(api.storageDir, 'requests.jsonl');
    writeFileSync(path, '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}\n');
    const file = await tenant.client.files.create({ file: createReadStream(path), purpose: 'batch' });
    expect(Object.keys(file)).toEqual([
      'object',
      'id',
      'purpose',
      'filename',
      'bytes',
      'created_at',
      'expires_at',
      'status',
      'status_details',
    ]);
    expect(file).toMatchObject({
      object: 'file',
      purpose: 'batch',
      filename: 'requests.jsonl',
      bytes: 84,
      status: 'processed',
      status_details: null,
    });
    expect(file.id).toMatch(/^file-[0-9A-Za-z]{24}$/);
    expect(Math.abs(file.created_at - Date.now() / 1000)).toBeLessThan(30);
    expect(file.expires_at).toBe(file.created_at + 30 * 24 * 3600);
  });

  it('keeps non-ASCII filenames, honours expires_after, and leaves other purposes without expiry', async () => {
    const named = await tenant.client.files.create({
      file: await toFile(Buffer.from('hi'), 'données 你好.txt'),
      purpose: 'user_data',
    });
    expect(named.filename).toBe('données 你好.txt');
    expect(named.expires_at).toBeNull();
    const expiring = await tenant.client.files.create({
      file: await toFile(Buffer.from('x'), 'x.txt'),
      purpose: 'assistants',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    expect(expiring.expires_at).toBe(expiring.created_at + 3600);
  });

  it('retrieves, streams the exact bytes back for a binary file, and deletes row and bytes', async () => {
    const bytes = randomBytes(300_000);
    const created = await tenant.client.files.create({ file: await toFile(bytes, 'blob.bin'), purpose: 'vision' });
    expect(await tenant.client.files.retrieve(created.id)).toEqual(created);

    const content = await tenant.client.files.content(created.id);
    expect(content.headers.get('content-type')).toBe('application/octet-stream');
    expect(content.headers.get('content-length')).toBe(String(bytes.length));
    expect(Buffer.from(await content.arrayBuffer()).equals(bytes)).toBe(true);
    const stored = `${tenant.workspaceId}/files/${created.id}`;
    expect(await storage.exists(stored)).toBe(true);

    expect(await tenant.client.files.delete(created.id)).toEqual({ object: 'file', deleted: true, id: created.id });
    await expect(tenant.client.files.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
    await expect(tenant.client.files.content(created.id)).rejects.toMatchObject({ status: 404 });
    expect(await storage.exists(stored)).toBe(false);
  });

  it('auto-paginates the list in both orders, with a purpose filter, never repeating or skipping', async () => {
    const own = await newTenant(api.url);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const purpose = i % 2 === 0 ? 'user_data' : 'assistants';
      ids.push((await own.client.files.create({ file: await toFile(Buffer.from(`f${i}`), `f${i}.txt`), purpose })).id);
    }
    const collect = async (query: OpenAI.Files.FileListParams) => {
      const seen: string[] = [];
      for await (const file of own.client.files.list(query)) {
        seen.push(file.id);
      }
      return seen;
    };
    const ascending = await collect({ limit: 2, order: 'asc' });
    expect(ascending).toEqual(ids);
    expect(await collect({ limit: 3 })).toEqual([...ids].reverse());
    expect(await collect({ limit: 1, order: 'asc', purpose: 'user_data' })).toEqual(ids.filter((_, i) => i % 2 === 0));

    const page = await own.client.files.list({ limit: 3, order: 'asc' });
    expect(page.has_more).toBe(true);
    const body = (await own.client.files
      .list({ limit: 3, order: 'asc' })
      .asResponse()
      .then((r) => r.json())) as Record<string, unknown>;
    expect(body).toMatchObject({ object: 'list', first_id: ids[0], last_id: ids[2], has_more: true });
    const last = (await own.client.files
      .list({ limit: 10, order: 'asc', after: ids[4] })
      .asResponse()
      .then((r) => r.json())) as { data: { id: string }[]; has_more: boolean };
    expect(last.data.map((f) => f.id)).toEqual(ids.slice(5));
    expect(last.has_more).toBe(false);
    const empty = (await own.client.files
      .list({ purpose: 'fine-tune' })
      .asResponse()
      .then((r) => r.json())) as Record<string, unknown>;
    expect(empty).toEqual({ object: 'list', data: [], has_more: false, first_id: null, last_id: null });
  });
});
