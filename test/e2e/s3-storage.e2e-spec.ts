import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvelope, newTenant, raw, type Tenant } from '../support/clients';
import { type ApiHandle, startApi } from '../support/processes';
import { startTestStorage, type TestStorage } from '../support/storage';

const MiB = 1024 * 1024;

/** The api's peak resident memory so far (VmHWM), in bytes. */
const peakRss = (api: ApiHandle) => {
  const status = readFileSync(`/proc/${api.process.child.pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
};

/** A file of `size` bytes that is not all one byte, written in 1 MiB steps; returns its SHA-256. */
async function makeFile(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  async function* blocks() {
    for (let offset = 0; offset < size; offset += MiB) {
      const block = Buffer.alloc(Math.min(MiB, size - offset), offset / MiB);
      block.writeUInt32BE(offset, 0);
      hash.update(block);
      yield block;
    }
  }
  await pipeline(Readable.from(blocks()), createWriteStream(path));
  return hash.digest('hex');
}

/**
 * What only the S3 driver has to show end to end (the other e2e files run again on S3 in the e2e-s3
 * project): an upload streams through the api into a multipart upload without being held in memory,
 * and an upload that fails after parts reached the store leaves neither an object nor an upload.
 */
describe('S3 storage through the api', () => {
  let storage: TestStorage;
  let api: ApiHandle;
  let limited: ApiHandle;
  let tenant: Tenant;

  beforeAll(async () => {
    storage = await startTestStorage('s3');
    api = await startApi(storage.env);
    limited = await startApi({ ...storage.env, MAX_UPLOAD_BYTES: String(8 * MiB) });
    tenant = await newTenant(api.url);
  });
  afterAll(async () => {
    await api?.stop();
    await limited?.stop();
    await storage?.stop();
  });

  const filesOf = (workspaceId: string) => storage.everything(`${workspaceId}/files/`);

  it('streams a 256 MiB upload into the bucket with flat memory, and the download is byte for byte', async () => {
    const warmUp = join(api.storageDir, 'warm-up.bin');
    await makeFile(warmUp, 6 * MiB);
    await tenant.client.files.create({ file: createReadStream(warmUp), purpose: 'user_data' });
    const before = peakRss(api);

    const path = join(api.storageDir, 'large.bin');
    const sha256 = await makeFile(path, 256 * MiB);
    const file = await tenant.client.files.create({ file: createReadStream(path), purpose: 'user_data' });
    expect(file.bytes).toBe(256 * MiB);
    const grew = peakRss(api) - before;
    // Parts of 5 MiB, two in flight: the api holds a few parts, never the file. (Its peak grows by 60-90 MiB
    // whatever the size, on local disk too: buffers the garbage collector has not yet returned.)
    expect(grew).toBeLessThan(128 * MiB);

    const content = await tenant.client.files.content(file.id);
    const downloaded = createHash('sha256');
    for await (const chunk of content.body as unknown as AsyncIterable<Uint8Array>) {
      downloaded.update(chunk);
    }
    expect(downloaded.digest('hex')).toBe(sha256);
    expect(await filesOf(tenant.workspaceId)).toContain(`${tenant.workspaceId}/files/${file.id}`);
  });

  it('aborts the multipart upload of a client that goes away after parts reached the store: nothing is left', async () => {
    const own = await newTenant(limited.url);
    const socket = connect(Number(new URL(limited.url).port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      `POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${own.key}\r\n` +
        `Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 8000000\r\n\r\n` +
        '--b\r\nContent-Disposition: form-data; name="file"; filename="half.bin"\r\n\r\n',
    );
    socket.write(Buffer.alloc(6 * MiB, 1));
    await expect
      .poll(() => filesOf(own.workspaceId), { timeout: 10_000 })
      .toEqual([expect.stringMatching(/\/files\/file-\w+ \(unfinished\)$/)]);
    socket.destroy();
    await expect.poll(() => filesOf(own.workspaceId), { timeout: 10_000 }).toEqual([]);
    expect((await raw(limited.url, '/v1/files', { key: own.key })).body.data).toEqual([]);
  });

  it('answers 413 over MAX_UPLOAD_BYTES after parts reached the store, and leaves nothing', async () => {
    const own = await newTenant(limited.url);
    const form = new FormData();
    form.append('file', new Blob([Buffer.alloc(9 * MiB, 2)]), 'big.bin');
    form.append('purpose', 'user_data');
    const tooBig = await raw(limited.url, '/v1/files', { method: 'POST', body: form, key: own.key });
    expectEnvelope(tooBig, 413, { param: 'file', message: /File is too large/ });
    await expect.poll(() => filesOf(own.workspaceId), { timeout: 10_000 }).toEqual([]);
  });

  it("answers 503 with retry-after, never the store's text, to a file or an upload part while the store refuses writes", async () => {
    const own = await newTenant(api.url);
    const upload = await own.client.uploads.create({
      filename: 'parts.txt',
      purpose: 'user_data',
      bytes: 3,
      mime_type: 'text/plain',
    });
    const sendFile = () => {
      const form = new FormData();
      form.append('file', new Blob(['abc']), 'a.txt');
      form.append('purpose', 'user_data');
      return raw(api.url, '/v1/files', { method: 'POST', body: form, key: own.key });
    };
    const sendPart = () => {
      const form = new FormData();
      form.append('data', new Blob(['abc']), 'part');
      return raw(api.url, `/v1/uploads/${upload.id}/parts`, { method: 'POST', body: form, key: own.key });
    };

    const allow = storage.refuseWrites(`${own.workspaceId}/`);
    try {
      for (const refused of [await sendFile(), await sendPart()]) {
        // The store answered 503 SlowDown: an outage the SDKs wait out and retry, not a bad request.
        expectEnvelope(refused, 503, { type: 'server_error', code: 'service_unavailable' });
        expect(refused.headers.get('retry-after')).toBe('1');
        expect(JSON.stringify(refused.body)).not.toMatch(/503|SlowDown|reduce your request rate|object store/i);
      }
    } finally {
      allow();
    }
    expect((await sendFile()).status).toBe(200);
    expect((await sendPart()).status).toBe(200);
  });
});
