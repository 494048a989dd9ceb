import { createHash } from 'node:crypto';
import { Client } from 'pg';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvelope, newTenant, postJson, raw, type Tenant } from '../support/clients';
import { batchLines, numbered, readResults, waitForBatch } from '../support/batches';
import { type ApiHandle, startApi } from '../support/processes';
import { startStack, type Stack } from '../support/stack';
import type { TestStorage } from '../support/storage';

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');
/** MAX_UPLOAD_BYTES' default: an upload is capped by it like a POST /v1/files. */
const MAX_UPLOAD_BYTES = 512 * 1024 * 1024;

/** Cuts `content` into `count` pieces of nearly equal size, mid-line: only the right order makes the file. */
function cut(content: Buffer, count: number): Buffer[] {
  const size = Math.ceil(content.length / count);
  return Array.from({ length: count }, (_, i) => content.subarray(i * size, (i + 1) * size));
}

/** The Uploads API end to end: the official SDK's uploads calls, raw HTTP for what it cannot send. */
describe('Uploads API', () => {
  let stack: Stack;
  let storage: TestStorage;
  let api: ApiHandle;
  let tenant: Tenant;
  let db: Client;

  beforeAll(async () => {
    stack = await startStack({ storage: true, worker: { BATCH_SWEEP_INTERVAL_MS: '1000' }, db: true });
    ({ storage, api, tenant, db } = stack);
  });
  afterAll(() => stack?.stop());

  const partsStored = (uploadId: string) => storage.everything(`${tenant.workspaceId}/uploads/${uploadId}/`);

  async function newUpload(content: Buffer, purpose: 'batch' | 'user_data' = 'batch', filename = 'requests.jsonl') {
    return tenant.client.uploads.create({ filename, purpose, bytes: content.length, mime_type: 'text/jsonl' });
  }

  const addPart = (uploadId: string, bytes: Buffer) =>
    tenant.client.uploads.parts.create(uploadId, { data: new File([bytes], 'part') });

  it('joins parts sent in parallel in the order named at completion into a batch file that runs', async () => {
    const content = Buffer.from(batchLines('/v1/chat/completions', 'stub-upload', numbered(30)));
    const [first, second, third] = cut(content, 3);
    const upload = await newUpload(content);
    expect(upload).toMatchObject({
      object: 'upload',
      status: 'pending',
      bytes: content.length,
      filename: 'requests.jsonl',
      purpose: 'batch',
    });
    expect(upload.id).toMatch(/^upload_/);
    expect(upload.expires_at - upload.created_at).toBe(3600);

    // The last part arrives first, then the other two at once.
    const partC = await addPart(upload.id, third);
    const [partA, partB] = await Promise.all([addPart(upload.id, first), addPart(upload.id, second)]);
    expect(partA).toMatchObject({ object: 'upload.part', upload_id: upload.id });
    expect(partA.id).toMatch(/^part_/);
    expect(partA.created_at).toBeGreaterThanOrEqual(upload.created_at);
    expect((await partsStored(upload.id)).length).toBe(3);

    const completed = await tenant.client.uploads.complete(upload.id, {
      part_ids: [partA.id, partB.id, partC.id],
      md5: md5(content),
    });
    expect(completed).toMatchObject({ id: upload.id, status: 'completed', bytes: content.length });
    expect(completed.file).toMatchObject({
      object: 'file',
      purpose: 'batch',
      filename: 'requests.jsonl',
      bytes: content.length,
      status: 'processed',
    });
    // A batch file expires after 30 days by default, as through POST /v1/files.
    expect(completed.file!.expires_at! - completed.file!.created_at).toBe(30 * 24 * 3600);
    const fileId = completed.file!.id;
    expect(Buffer.from(await (await tenant.client.files.content(fileId)).arrayBuffer()).equals(content)).toBe(true);
    expect(await tenant.client.files.retrieve(fileId)).toMatchObject({ id: fileId, bytes: content.length });
    // Completing deleted the parts.
    expect(await partsStored(upload.id)).toEqual([]);

    const batch = await tenant.client.batches.create({
      input_file_id: fileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const done = await waitForBatch(tenant.client, batch.id);
    expect(done).toMatchObject({ status: 'completed', request_counts: { total: 30, completed: 30, failed: 0 } });
    expect((await readResults(tenant.client, done.output_file_id)).map((line) => line.custom_id).sort()).toEqual(
      numbered(30)
        .map((request) => request.customId)
        .sort(),
    );

    // Finished: no more parts, no second completion, no cancel.
    for (const refused of [
      raw(api.url, `/v1/uploads/${upload.id}/parts`, { method: 'POST', key: tenant.key, body: partForm(first) }),
      postJson(api.url, `/v1/uploads/${upload.id}/complete`, tenant.key, { part_ids: [partA.id] }),
      postJson(api.url, `/v1/uploads/${upload.id}/cancel`, tenant.key, {}),
    ]) {
      expectEnvelope(await refused, 400, { message: /already completed/ });
    }
  });

  it('checks the md5 when given: a wrong one is refused and the upload can still be completed', async () => {
    const content = Buffer.from('some bytes of a user file\n'.repeat(50));
    const upload = await newUpload(content, 'user_data', 'notes.txt');
    const [first, second] = cut(content, 2);
    const ordered = [(await addPart(upload.id, first)).id, (await addPart(upload.id, second)).id];

    const wrong = await postJson(api.url, `/v1/uploads/${upload.id}/complete`, tenant.key, {
      part_ids: ordered,
      md5: md5(Buffer.from('something else')),
    });
    expectEnvelope(wrong, 400, { param: 'md5', type: 'invalid_request_error' });
    expect((await tenant.client.files.list()).data.map((file) => file.filename)).not.toContain('notes.txt');

    const completed = await tenant.client.uploads.complete(upload.id, { part_ids: ordered, md5: md5(content) });
    expect(completed.status).toBe('completed');
    expect(completed.file).toMatchObject({ purpose: 'user_data', bytes: content.length, expires_at: null });
    const stored = Buffer.from(await (await tenant.client.files.content(completed.file!.id)).arrayBuffer());
    expect(stored.equals(content)).toBe(true);
  });

  it('refuses a completion whose parts do not hold the declared bytes, unknown or repeated parts', async () => {
    const content = Buffer.from('{"a":1}\n');
    const upload = await tenant.client.uploads.create({
      filename: 'short.jsonl',
      purpose: 'batch',
      bytes: content.length + 5,
      mime_type: 'text/jsonl',
    });
    const part = await addPart(upload.id, content);
    expectEnvelope(
      await postJson(api.url, `/v1/uploads/${upload.id}/complete`, tenant.key, { part_ids: [part.id] }),
      400,
      {
        param: 'bytes',
        message: new RegExp(`hold ${content.length} bytes.*bytes=${content.length + 5}`),
      },
    );
    expectEnvelope(
      await postJson(api.url, `/v1/uploads/${upload.id}/complete`, tenant.key, { part_ids: [part.id, 'part_nope'] }),
      400,
      { param: 'part_ids', message: /part_nope/ },
    );
    expectEnvelope(
      await postJson(api.url, `/v1/uploads/${upload.id}/complete`, tenant.key, { part_ids: [part.id, part.id] }),
      400,
      { param: 'part_ids' },
    );
    // A part of another upload is not one of this upload's.
    const other = await newUpload(content);
    const otherPart = await addPart(other.id, content);
    expectEnvelope(
      await postJson(api.url, `/v1/uploads/${upload.id}/complete`, tenant.key, { part_ids: [otherPart.id] }),
      400,
      { param: 'part_ids' },
    );
    // More bytes than declared are refused as they arrive.
    expectEnvelope(
      await raw(api.url, `/v1/uploads/${other.id}/parts`, { method: 'POST', key: tenant.key, body: partForm(content) }),
      400,
      { param: 'data', message: /exceed/ },
    );
    expect((await partsStored(other.id)).length).toBe(1);
    const { rows } = await db.query('SELECT status FROM uploads WHERE id = $1', [upload.id]);
    expect(rows[0].status).toBe('pending');
  });

  it('applies the batch file checks at completion, and the create checks', async () => {
    const content = Buffer.from('{"custom_id":"a"}\nnot json\n');
    const upload = await newUpload(content);
    const part = await addPart(upload.id, content);
    // On S3 the upload's own assembly (named after it) joins the parts in place, and keeps them once joined.
    const filesOtherThanTheUpload = async () =>
      (await storage.everything(`${tenant.workspaceId}/files/`)).filter((key) => !key.includes(upload.id));
    const filesBefore = await filesOtherThanTheUpload();
    expectEnvelope(
      await postJson(api.url, `/v1/uploads/${upload.id}/complete`, tenant.key, { part_ids: [part.id] }),
      400,
      { code: 'invalid_file_format', message: /Line 2 is not parseable/ },
    );
    // Nothing kept of the refused file; the upload is still pending, its part still there.
    expect(await filesOtherThanTheUpload()).toEqual(filesBefore);
    expect((await db.query('SELECT status FROM uploads WHERE id = $1', [upload.id])).rows[0].status).toBe('pending');
    expect((await partsStored(upload.id)).length).toBe(1);

    const create = (body: Record<string, unknown>) => postJson(api.url, '/v1/uploads', tenant.key, body);
    const valid = { filename: 'a.jsonl', purpose: 'batch', bytes: 10, mime_type: 'text/jsonl' };
    expectEnvelope(await create({ ...valid, filename: 'a.csv' }), 400, {
      param: 'filename',
      code: 'invalid_file_format',
    });
    expectEnvelope(await create({ ...valid, bytes: 300 * 1024 * 1024 }), 400, { param: 'bytes', message: /too large/ });
    expectEnvelope(await create({ ...valid, purpose: 'user_data', bytes: MAX_UPLOAD_BYTES + 1 }), 400, {
      param: 'bytes',
      message: new RegExp(`maximum upload size is ${MAX_UPLOAD_BYTES} bytes`),
    });
    expectEnvelope(await create({ ...valid, bytes: 0 }), 400, { param: 'bytes' });
    expectEnvelope(await create({ ...valid, mime_type: undefined }), 400, { param: 'mime_type' });
    expectEnvelope(await create({ ...valid, purpose: 'world_domination' }), 400, { param: 'purpose' });
    const ok = await create({ ...valid, purpose: 'user_data', bytes: MAX_UPLOAD_BYTES });
    expect(ok.status).toBe(200);
  });

  it('completes once when two completions and a cancel race', async () => {
    const content = Buffer.from('{"x":1}\n'.repeat(1000));
    const upload = await newUpload(content, 'user_data', 'race.txt');
    const part = await addPart(upload.id, content);
    const complete = () => postJson(api.url, `/v1/uploads/${upload.id}/complete`, tenant.key, { part_ids: [part.id] });
    const answers = await Promise.all([
      complete(),
      complete(),
      postJson(api.url, `/v1/uploads/${upload.id}/cancel`, tenant.key, {}),
    ]);
    const winners = answers.filter((answer) => answer.status === 200);
    expect(winners).toHaveLength(1);
    for (const loser of answers.filter((answer) => answer.status !== 200)) {
      expectEnvelope(loser, 400, { param: 'upload_id' });
    }
    const { rows } = await db.query('SELECT status, file_id FROM uploads WHERE id = $1', [upload.id]);
    expect(rows[0].status).toBe(winners[0].body.status);
    const files = await db.query('SELECT id FROM files WHERE filename = $1 AND workspace_id = $2', [
      'race.txt',
      tenant.workspaceId,
    ]);
    expect(files.rows.map((row) => row.id)).toEqual(rows[0].file_id ? [rows[0].file_id] : []);
  });

  it('cancels: the parts are deleted, with what a killed part request left, and the upload takes nothing more', async () => {
    const content = Buffer.from('{"x":1}\n');
    const upload = await newUpload(content);
    const part = await addPart(upload.id, content);
    await storage.leaveObject(`${tenant.workspaceId}/uploads/${upload.id}/part_killedbeforeitsrow`, content);
    expect((await partsStored(upload.id)).length).toBe(2);
    const cancelled = await tenant.client.uploads.cancel(upload.id);
    expect(cancelled).toMatchObject({ id: upload.id, object: 'upload', status: 'cancelled' });
    expect(await partsStored(upload.id)).toEqual([]);
    expectEnvelope(
      await raw(api.url, `/v1/uploads/${upload.id}/parts`, {
        method: 'POST',
        key: tenant.key,
        body: partForm(content),
      }),
      400,
      { message: /cancelled/ },
    );
    expectEnvelope(
      await postJson(api.url, `/v1/uploads/${upload.id}/complete`, tenant.key, { part_ids: [part.id] }),
      400,
      {
        message: /cancelled/,
      },
    );
    await expect(tenant.client.uploads.cancel(upload.id)).rejects.toMatchObject({ status: 400 });
  });

  it('answers 404 to another workspace and for unknown uploads', async () => {
    const content = Buffer.from('{"x":1}\n');
    const upload = await tenant.client.uploads.create({
      filename: 'mine.jsonl',
      purpose: 'batch',
      bytes: content.length,
      mime_type: 'text/jsonl',
      expires_after: { anchor: 'created_at', seconds: 7200 },
    });
    const part = await addPart(upload.id, content);
    const stranger = await newTenant(api.url);
    for (const id of [upload.id, 'upload_doesnotexist', '../../etc']) {
      const path = `/v1/uploads/${encodeURIComponent(id)}`;
      expectEnvelope(
        await raw(api.url, `${path}/parts`, { method: 'POST', key: stranger.key, body: partForm(content) }),
        404,
        {
          param: 'upload_id',
        },
      );
      expectEnvelope(await postJson(api.url, `${path}/complete`, stranger.key, { part_ids: [part.id] }), 404);
      expectEnvelope(await postJson(api.url, `${path}/cancel`, stranger.key, {}), 404);
    }
    await expect(stranger.client.uploads.cancel(upload.id)).rejects.toMatchObject({ status: 404 });
    // Untouched for its owner.
    const completed = await tenant.client.uploads.complete(upload.id, { part_ids: [part.id] });
    expect(completed.status).toBe('completed');
    // The file keeps the expires_after given at create.
    expect(completed.file!.expires_at! - completed.file!.created_at).toBe(7200);
  });

  it('expires an upload not completed in time (UPLOAD_EXPIRY_SECONDS): parts refused, their bytes deleted', async () => {
    const shortLived = await startApi({ ...storage.env, UPLOAD_EXPIRY_SECONDS: '2' }, api.storageDir);
    try {
      const client = new OpenAI({
        baseURL: `${shortLived.url}/v1`,
        apiKey: tenant.key,
        maxRetries: 0,
      });
      const content = Buffer.from('{"x":1}\n{"y":2}\n');
      const upload = await client.uploads.create({
        filename: 'late.jsonl',
        purpose: 'batch',
        bytes: content.length,
        mime_type: 'text/jsonl',
      });
      expect(upload.expires_at - upload.created_at).toBe(2);
      const part = await client.uploads.parts.create(upload.id, { data: await toFile(content, 'part') });
      await storage.leaveObject(`${tenant.workspaceId}/uploads/${upload.id}/part_killedbeforeitsrow`, content);
      expect((await partsStored(upload.id)).length).toBe(2);
      await expect
        .poll(async () => (await db.query('SELECT status FROM uploads WHERE id = $1', [upload.id])).rows[0].status, {
          timeout: 15_000,
        })
        .toBe('expired');
      // released_at is written last, once the bytes and the part rows are gone.
      await expect
        .poll(
          async () =>
            (await db.query('SELECT released_at FROM uploads WHERE id = $1', [upload.id])).rows[0].released_at,
          { timeout: 10_000 },
        )
        .not.toBeNull();
      expect(await partsStored(upload.id)).toEqual([]);
      expect((await db.query('SELECT 1 FROM upload_parts WHERE upload_id = $1', [upload.id])).rowCount).toBe(0);
      expectEnvelope(
        await raw(shortLived.url, `/v1/uploads/${upload.id}/parts`, {
          method: 'POST',
          key: tenant.key,
          body: partForm(content),
        }),
        400,
        { message: /expired/ },
      );
      await expect(client.uploads.complete(upload.id, { part_ids: [part.id] })).rejects.toMatchObject({ status: 400 });
    } finally {
      await shortLived.stop();
    }
  });

  it('refuses a part above 64 MB with 413 and keeps nothing of it', async () => {
    const upload = await tenant.client.uploads.create({
      filename: 'big.bin',
      purpose: 'user_data',
      bytes: 200 * 1024 * 1024,
      mime_type: 'application/octet-stream',
    });
    const tooBig = Buffer.alloc(64 * 1024 * 1024 + 1, 'a');
    expectEnvelope(
      await raw(api.url, `/v1/uploads/${upload.id}/parts`, { method: 'POST', key: tenant.key, body: partForm(tooBig) }),
      413,
      { param: 'data' },
    );
    expect(await partsStored(upload.id)).toEqual([]);
    expect((await db.query('SELECT 1 FROM upload_parts WHERE upload_id = $1', [upload.id])).rowCount).toBe(0);
  });

  it('refuses a multipart body without the data part', async () => {
    const upload = await newUpload(Buffer.from('{"x":1}\n'));
    const form = new FormData();
    form.append('file', new Blob(['{"x":1}\n']), 'part');
    expectEnvelope(
      await raw(api.url, `/v1/uploads/${upload.id}/parts`, { method: 'POST', key: tenant.key, body: form }),
      400,
      {
        param: 'data',
      },
    );
    expect(await partsStored(upload.id)).toEqual([]);
  });
});

function partForm(bytes: Buffer): FormData {
  const form = new FormData();
  form.append('data', new Blob([bytes]), 'part');
  return form;
}
