import { createHash } from 'node:crypto';
import OpenAI from 'openai';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvelope, postJson, type Tenant } from '../support/clients';
import { batchLines, numbered, type StubHandle } from '../support/batches';
import { type ApiHandle, startApi, startWorker } from '../support/processes';
import { S3_TEST_BUCKET, type S3Request, type S3TestServer } from '../support/s3-server';
import { startStack, type Stack } from '../support/stack';

const MiB = 1024 * 1024;
const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('hex');

/** A batch input of about `bytes`, each line about 1 KB: lines cross every part boundary. */
const batchInput = (bytes: number) =>
  Buffer.from(
    batchLines(
      '/v1/chat/completions',
      'gpt-4o-mini',
      numbered(Math.ceil(bytes / 1000), (i) => `${i} `.repeat(170)),
    ),
  );

/** Cuts `content` into pieces of the given sizes, the last taking the rest. */
function cut(content: Buffer, ...sizes: number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let at = 0;
  for (const size of sizes) {
    pieces.push(content.subarray(at, at + size));
    at += size;
  }
  return [...pieces, content.subarray(at)];
}

/** What writes bytes into the store: PutObject and UploadPart (and UploadPartCopy) are PUTs. */
const writes = (requests: S3Request[]) => requests.filter((request) => request.method === 'PUT');

/**
 * The Uploads API on S3: parts go straight into one multipart upload per Upload, so a completion in the order
 * the parts were sent copies nothing; any other order, a refusal, a cancel or an expiry still loses no part
 * and leaves nothing behind.
 */
describe('Uploads on S3: one multipart upload per Upload', () => {
  let stack: Stack;
  let s3: S3TestServer;
  let stub: StubHandle;
  let api: ApiHandle;
  let tenant: Tenant;
  let db: Client;

  beforeAll(async () => {
    stack = await startStack({ storage: 's3', worker: { BATCH_SWEEP_INTERVAL_MS: '1000' }, db: true });
    ({ stub, api, tenant, db } = stack);
    s3 = stack.storage.s3!;
  });
  afterAll(() => stack?.stop());

  const assemblyKey = (uploadId: string) => `${tenant.workspaceId}/files/${uploadId}`;
  const objects = async (prefix: string) => {
    const keys: string[] = [];
    const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
    for (const object of page.Contents ?? []) {
      keys.push(object.Key!);
    }
    return keys;
  };
  /** Everything the upload still holds in the store: part objects, its assembly open or joined. */
  const leftOf = async (uploadId: string) => [
    ...(await objects(`${tenant.workspaceId}/uploads/${uploadId}/`)),
    ...(await objects(assemblyKey(uploadId))),
    ...s3.uploadsInProgress().filter((key) => key === assemblyKey(uploadId)),
  ];

  async function sendParts(content: Buffer, pieces: Buffer[], purpose: 'batch' | 'user_data' = 'batch') {
    const upload = await tenant.client.uploads.create({
      filename: 'big.jsonl',
      purpose,
      bytes: content.length,
      mime_type: 'text/jsonl',
    });
    const parts = [];
    // One after the other: the order they are sent in is the order they arrive in.
    for (const piece of pieces) {
      parts.push(await tenant.client.uploads.parts.create(upload.id, { data: new File([piece], 'part') }));
    }
    return { upload, partIds: parts.map((part) => part.id) };
  }

  const fileKey = async (fileId: string) =>
    (await db.query('SELECT storage_key FROM files WHERE id = $1', [fileId])).rows[0].storage_key as string;
  const download = async (fileId: string) =>
    Buffer.from(await (await tenant.client.files.content(fileId)).arrayBuffer());

  it('joins parts completed in the order they were sent in place: the completion writes no byte to the store', async () => {
    const content = batchInput(14 * MiB);
    const { upload, partIds } = await sendParts(content, cut(content, 6 * MiB, 7 * MiB));
    expect(s3.uploadsInProgress()).toContain(assemblyKey(upload.id));
    // Only the small last part is also an object of its own (it could have been named anywhere).
    expect(await objects(`${tenant.workspaceId}/uploads/${upload.id}/`)).toHaveLength(1);

    const before = s3.requests.length;
    const completed = await tenant.client.uploads.complete(upload.id, { part_ids: partIds, md5: md5(content) });
    const during = s3.requests.slice(before);

    expect(completed.status).toBe('completed');
    expect(completed.file!.bytes).toBe(content.length);
    // Of this workspace: the sweeper may run a batch another file left open, which writes its own results.
    expect(writes(during).filter((request) => request.key.startsWith(`${tenant.workspaceId}/`))).toEqual([]);
    expect(during.filter((request) => request.method === 'POST' && request.params.includes('uploadId'))).toEqual([
      { method: 'POST', key: assemblyKey(upload.id), params: ['uploadId'] },
    ]);
    // The assembly is the file; the md5 and batch checks read it once, and nothing else is left.
    expect(await fileKey(completed.file!.id)).toBe(assemblyKey(upload.id));
    expect(md5(await download(completed.file!.id))).toBe(md5(content));
    expect(s3.uploadsInProgress()).not.toContain(assemblyKey(upload.id));
    expect(await objects(`${tenant.workspaceId}/uploads/${upload.id}/`)).toEqual([]);

    // Deleting the file deletes the joined object with it.
    await tenant.client.files.delete(completed.file!.id);
    await expect.poll(() => leftOf(upload.id)).toEqual([]);
  });

  it('has the store copy parts completed in another order than they were sent, and removes what it joined', async () => {
    const content = Buffer.alloc(13 * MiB + 12345, 'x');
    for (let i = 0; i < content.length; i += 4096) {
      content.write(String(i).padStart(12, '0'), i);
    }
    const [a, b, c] = cut(content, 6 * MiB, 6 * MiB);
    // Sent b, a, c; named a, b, c at completion.
    const { upload, partIds } = await sendParts(content, [b, a, c], 'user_data');
    const named = [partIds[1], partIds[0], partIds[2]];
    // A refused completion (wrong md5) removes its copy and keeps the parts for the next one.
    const filesBefore = await objects(`${tenant.workspaceId}/files/`);
    const wrong = await postJson(api.url, `/v1/uploads/${upload.id}/complete`, tenant.key, {
      part_ids: named,
      md5: md5(Buffer.from('not these bytes')),
    });
    expectEnvelope(wrong, 400, { param: 'md5' });
    // What the store joined stays (the parts are read from it next time); the refused copy does not.
    expect(await objects(`${tenant.workspaceId}/files/`)).toEqual([...filesBefore, assemblyKey(upload.id)].sort());

    const before = s3.requests.length;
    const completed = await tenant.client.uploads.complete(upload.id, { part_ids: named, md5: md5(content) });
    const ours = s3.requests.slice(before).filter((request) => request.key.startsWith(`${tenant.workspaceId}/`));
    const fileObject = `${tenant.workspaceId}/files/${completed.file!.id}`;
    // No byte of the parts is sent to the store: it copies a and b from where it joined them (b first, as sent)
    // and c (small, an object of its own) whole; the copies run at once, in any order.
    expect(writes(ours)).toHaveLength(3);
    expect(writes(ours)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          key: fileObject,
          copySource: `${S3_TEST_BUCKET}/${assemblyKey(upload.id)} bytes=${6 * MiB}-${12 * MiB - 1}`,
        }),
        expect.objectContaining({
          key: fileObject,
          copySource: `${S3_TEST_BUCKET}/${assemblyKey(upload.id)} bytes=0-${6 * MiB - 1}`,
        }),
        expect.objectContaining({
          key: fileObject,
          copySource: expect.stringMatching(
            new RegExp(`^${S3_TEST_BUCKET}/${tenant.workspaceId}/uploads/${upload.id}/[^ ]+$`),
          ),
        }),
      ]),
    );
    expect(completed.file!.bytes).toBe(content.length);
    expect(md5(await download(completed.file!.id))).toBe(md5(content));
    expect(await fileKey(completed.file!.id)).toBe(fileObject);
    expect(s3.uploadsInProgress()).not.toContain(fileObject);
    expect(await leftOf(upload.id)).toEqual([]);
  });

  it('streams parts named in an order the store cannot copy (a small part before the last)', async () => {
    const content = batchInput(9 * MiB);
    const [a, b, c] = cut(content, 6 * MiB, 2 * MiB);
    // Sent a, b, c; named b, a, c: b (2 MiB) is not the last part named, and S3 joins no small part but the last.
    const { upload, partIds } = await sendParts(content, [a, b, c], 'user_data');
    const named = [partIds[1], partIds[0], partIds[2]];
    const expected = Buffer.concat([b, a, c]);
    const before = s3.requests.length;
    const completed = await tenant.client.uploads.complete(upload.id, { part_ids: named, md5: md5(expected) });
    const ours = s3.requests.slice(before).filter((request) => request.key.startsWith(`${tenant.workspaceId}/`));
    expect(ours.filter((request) => request.copySource !== undefined)).toEqual([]);
    expect(md5(await download(completed.file!.id))).toBe(md5(expected));
    expect(await leftOf(upload.id)).toEqual([]);
  });

  it('keeps the parts of a refused in-place completion (wrong md5): a second completion makes the file', async () => {
    const content = batchInput(7 * MiB);
    const { upload, partIds } = await sendParts(content, cut(content, 6 * MiB));
    const fileCount = async () =>
      (await db.query('SELECT count(*)::int AS n FROM files WHERE workspace_id = $1', [tenant.workspaceId])).rows[0].n;
    const filesBefore = await fileCount();
    const wrong = await postJson(api.url, `/v1/uploads/${upload.id}/complete`, tenant.key, {
      part_ids: partIds,
      md5: md5(Buffer.from('not these bytes')),
    });
    expectEnvelope(wrong, 400, { param: 'md5' });
    expect((await db.query('SELECT status FROM uploads WHERE id = $1', [upload.id])).rows[0].status).toBe('pending');
    expect(await fileCount()).toBe(filesBefore);

    const completed = await tenant.client.uploads.complete(upload.id, { part_ids: partIds, md5: md5(content) });
    expect(completed.status).toBe('completed');
    expect(md5(await download(completed.file!.id))).toBe(md5(content));
    expect(await leftOf(upload.id)).toEqual([]);
  });

  it('answers 503 with retry-after while the store refuses the join; once it is back, the same completion joins in place', async () => {
    const content = batchInput(7 * MiB);
    const { upload, partIds } = await sendParts(content, cut(content, 6 * MiB));
    const allow = s3.refuseWrites(assemblyKey(upload.id));
    const refused = await postJson(api.url, `/v1/uploads/${upload.id}/complete`, tenant.key, {
      part_ids: partIds,
      md5: md5(content),
    });
    allow();
    expectEnvelope(refused, 503, { type: 'server_error', code: 'service_unavailable' });
    expect(refused.headers.get('retry-after')).toBe('1');
    expect((await db.query('SELECT status FROM uploads WHERE id = $1', [upload.id])).rows[0].status).toBe('pending');

    const completed = await tenant.client.uploads.complete(upload.id, { part_ids: partIds, md5: md5(content) });
    expect(await fileKey(completed.file!.id)).toBe(assemblyKey(upload.id));
    expect(md5(await download(completed.file!.id))).toBe(md5(content));
    expect(await objects(`${tenant.workspaceId}/uploads/${upload.id}/`)).toEqual([]);
    expect(s3.uploadsInProgress()).not.toContain(assemblyKey(upload.id));
  });

  it('with S3_JOIN_IN_PLACE=false (stores such as R2 that want equal parts), stores parts as objects and streams', async () => {
    const separate = await startApi({ ...s3.env, S3_JOIN_IN_PLACE: 'false' }, api.storageDir);
    try {
      const client = new OpenAI({ baseURL: `${separate.url}/v1`, apiKey: tenant.key, maxRetries: 0 });
      const content = batchInput(7 * MiB);
      const upload = await client.uploads.create({
        filename: 'r2.jsonl',
        purpose: 'batch',
        bytes: content.length,
        mime_type: 'text/jsonl',
      });
      const partIds = [];
      for (const piece of cut(content, 6 * MiB)) {
        partIds.push((await client.uploads.parts.create(upload.id, { data: new File([piece], 'part') })).id);
      }
      expect(s3.uploadsInProgress()).not.toContain(assemblyKey(upload.id));
      expect(await objects(`${tenant.workspaceId}/uploads/${upload.id}/`)).toHaveLength(2);
      const completed = await client.uploads.complete(upload.id, { part_ids: partIds, md5: md5(content) });
      expect(await fileKey(completed.file!.id)).toBe(`${tenant.workspaceId}/files/${completed.file!.id}`);
      expect(md5(await download(completed.file!.id))).toBe(md5(content));
      expect(await leftOf(upload.id)).toEqual([]);
    } finally {
      await separate.stop();
    }
  });

  it('cancels: the assembly is aborted and nothing of the upload is left', async () => {
    const content = Buffer.alloc(6 * MiB, 'y');
    const { upload } = await sendParts(content, [content], 'user_data');
    expect(s3.uploadsInProgress()).toContain(assemblyKey(upload.id));
    expect((await tenant.client.uploads.cancel(upload.id)).status).toBe('cancelled');
    expect(await leftOf(upload.id)).toEqual([]);
  });

  it('expires: the sweeper aborts the assembly, or removes what a refused completion joined', async () => {
    const open = await sendParts(Buffer.alloc(6 * MiB, 'z'), [Buffer.alloc(6 * MiB, 'z')], 'user_data');
    const content = batchInput(6 * MiB);
    const joined = await sendParts(content, [content]);
    expectEnvelope(
      await postJson(api.url, `/v1/uploads/${joined.upload.id}/complete`, tenant.key, {
        part_ids: joined.partIds,
        md5: md5(Buffer.from('wrong')),
      }),
      400,
      { param: 'md5' },
    );
    expect(await objects(assemblyKey(joined.upload.id))).toEqual([assemblyKey(joined.upload.id)]);

    await db.query(`UPDATE uploads SET expires_at = clock_timestamp() WHERE id = ANY($1)`, [
      [open.upload.id, joined.upload.id],
    ]);
    for (const { upload } of [open, joined]) {
      await expect.poll(() => leftOf(upload.id), { timeout: 15_000 }).toEqual([]);
      expect((await db.query('SELECT status FROM uploads WHERE id = $1', [upload.id])).rows[0].status).toBe('expired');
    }
  });

  it("does not take an open upload's assembly for a write a killed process left, however old", async () => {
    const { upload } = await sendParts(Buffer.alloc(5 * MiB, 'k'), [Buffer.alloc(5 * MiB, 'k')], 'user_data');
    const abandoned = `${tenant.workspaceId}/files/file-left-by-a-killed-api`;
    await s3.beginUpload(abandoned);
    const longAgo = new Date(Date.now() - 3 * 3600_000);
    s3.backdateUploads(abandoned, longAgo);
    s3.backdateUploads(assemblyKey(upload.id), longAgo);
    // The sweep of unfinished writes runs once an hour per worker: first when one starts.
    const another = await startWorker(stub.url, api.storageDir, { ...s3.env, BATCH_SWEEP_INTERVAL_MS: '1000' });
    try {
      await expect.poll(() => s3.uploadsInProgress(), { timeout: 10_000 }).not.toContain(abandoned);
      expect(s3.uploadsInProgress()).toContain(assemblyKey(upload.id));
    } finally {
      await another.stop();
    }
    // The upload still completes from it.
    const completed = await tenant.client.uploads.complete(upload.id, {
      part_ids: (await db.query('SELECT id FROM upload_parts WHERE upload_id = $1', [upload.id])).rows.map(
        (row: { id: string }) => row.id,
      ),
    });
    expect(await fileKey(completed.file!.id)).toBe(assemblyKey(upload.id));
    expect(md5(await download(completed.file!.id))).toBe(md5(Buffer.alloc(5 * MiB, 'k')));
  });
});
