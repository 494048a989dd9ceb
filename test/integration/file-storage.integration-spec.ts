import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { buffer, text } from 'node:stream/consumers';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type FileStorage,
  LocalDiskStorage,
  S3_PART_BYTES,
  S3FileStorage,
  StorageUnavailableError,
  StoredObjectMissingError,
} from '@app/core';
import { type S3TestServer, startS3Server } from '../support/s3-server';
import { waitUntil } from '../support/poll';

/** A driver under test, with what the contract needs to look behind it. */
interface DriverUnderTest {
  storage: FileStorage;
  /** Writes begun and never finished (local `.partial` files, S3 multipart uploads in progress). */
  unfinishedWrites(): Promise<string[]>;
  /** What a process killed mid-write leaves behind, begun at `startedAt`. */
  leaveUnfinishedWrite(key: string, startedAt: Date): Promise<void>;
  close(): Promise<void>;
}

async function localDriver(): Promise<DriverUnderTest> {
  const root = await mkdtemp(join(tmpdir(), 'venna-storage-'));
  return {
    storage: new LocalDiskStorage(root),
    unfinishedWrites: async () =>
      (await readdir(root, { recursive: true })).filter((path) => path.endsWith('.partial')),
    leaveUnfinishedWrite: async (key, startedAt) => {
      const partial = join(root, `${key}.${randomBytes(4).toString('hex')}.partial`);
      await mkdir(dirname(partial), { recursive: true });
      await writeFile(partial, 'half of a write');
      await utimes(partial, startedAt, startedAt);
    },
    close: () => rm(root, { recursive: true, force: true }),
  };
}

/** Against a real S3-compatible server, with listings paged two at a time so that pagination is exercised. */
function s3Driver(server: () => S3TestServer, fixedPrefix?: string) {
  return (): Promise<DriverUnderTest> => {
    const s3 = server();
    // A prefix per test: each starts with an empty store, as each local one gets a fresh folder.
    const prefix = fixedPrefix ?? `run-${randomBytes(4).toString('hex')}`;
    const storage = new S3FileStorage({
      bucket: s3.bucket,
      region: 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.env.S3_ACCESS_KEY_ID, secretAccessKey: s3.env.S3_SECRET_ACCESS_KEY },
      prefix,
    });
    return Promise.resolve({
      storage,
      unfinishedWrites: () => Promise.resolve(s3.uploadsInProgress().filter((key) => key.startsWith(`${prefix}/`))),
      leaveUnfinishedWrite: async (key, startedAt) => {
        await s3.beginUpload(`${prefix}/${key}`);
        s3.backdateUploads(`${prefix}/${key}`, startedAt);
      },
      close: () => {
        storage.onApplicationShutdown();
        return Promise.resolve();
      },
    });
  };
}

let s3: S3TestServer;
beforeAll(async () => {
  s3 = await startS3Server({ pageSize: 2 });
});
afterAll(() => s3?.stop());

const drivers: [string, () => Promise<DriverUnderTest>][] = [
  ['local disk', localDriver],
  ['S3', s3Driver(() => s3)],
];

const listAll = async (storage: FileStorage, prefix: string) => {
  const keys: string[] = [];
  for await (const key of storage.list(prefix)) {
    keys.push(key);
  }
  return keys.sort();
};

describe.each(drivers)('FileStorage contract: %s', (_name, makeDriver) => {
  let driver: DriverUnderTest;
  let storage: FileStorage;

  beforeEach(async () => {
    driver = await makeDriver();
    storage = driver.storage;
  });
  afterEach(() => driver.close());

  it('writes, stats, reads whole and by range, and deletes (twice without error)', async () => {
    expect(await storage.write('ws/a/file-1', Readable.from([Buffer.from('hello '), Buffer.from('world')]))).toEqual({
      bytes: 11,
    });
    expect(await storage.stat('ws/a/file-1')).toEqual({ bytes: 11 });
    expect(await text(await storage.read('ws/a/file-1'))).toBe('hello world');
    expect(await text(await storage.read('ws/a/file-1', { start: 6, end: 11 }))).toBe('world');
    expect(await text(await storage.read('ws/a/file-1', { start: 0, end: 1 }))).toBe('h');
    expect(await text(await storage.read('ws/a/file-1', { start: 4, end: 4 }))).toBe('');
    await storage.delete('ws/a/file-1');
    await storage.delete('ws/a/file-1');
    expect(await storage.stat('ws/a/file-1')).toBeNull();
    await expect(storage.read('ws/a/file-1')).rejects.toBeInstanceOf(StoredObjectMissingError);
    await expect(storage.read('ws/a/file-1', { start: 2, end: 2 })).rejects.toBeInstanceOf(StoredObjectMissingError);
  });

  it('stores an empty stream as an empty object', async () => {
    expect(await storage.write('ws/a/empty', Readable.from([]))).toEqual({ bytes: 0 });
    expect(await storage.stat('ws/a/empty')).toEqual({ bytes: 0 });
    expect((await buffer(await storage.read('ws/a/empty'))).length).toBe(0);
  });

  it('streams a write of several parts byte for byte and reads ranges across part boundaries', async () => {
    const bytes = randomBytes(2 * S3_PART_BYTES + 12_345);
    const pieces = Array.from({ length: Math.ceil(bytes.length / 65_536) }, (_, i) =>
      bytes.subarray(i * 65_536, (i + 1) * 65_536),
    );
    expect(await storage.write('ws/big/file-9', Readable.from(pieces))).toEqual({ bytes: bytes.length });
    expect((await buffer(await storage.read('ws/big/file-9'))).equals(bytes)).toBe(true);
    const across = { start: S3_PART_BYTES - 10, end: S3_PART_BYTES + 10 };
    expect(
      (await buffer(await storage.read('ws/big/file-9', across))).equals(bytes.subarray(across.start, across.end)),
    ).toBe(true);
  });

  it('makes the object appear only once the whole stream is written', async () => {
    const source = new PassThrough();
    const written = storage.write('ws/slow/file-5', source);
    source.write(Buffer.alloc(1000, 1));
    await waitUntil(() => source.readableLength === 0, { what: 'the storage to take the first bytes', intervalMs: 5 });
    expect(await storage.stat('ws/slow/file-5')).toBeNull();
    await expect(storage.read('ws/slow/file-5')).rejects.toBeInstanceOf(StoredObjectMissingError);
    source.end(Buffer.alloc(500, 2));
    expect(await written).toEqual({ bytes: 1500 });
    expect(await storage.stat('ws/slow/file-5')).toEqual({ bytes: 1500 });
  });

  it.each([
    ['before a part is complete', 1000, false],
    ['after a part was uploaded', S3_PART_BYTES + 1000, true],
  ])('leaves no object and no unfinished write when the source fails %s', async (_when, sentBytes, begun) => {
    async function* failing() {
      yield Buffer.alloc(sentBytes, 7);
      if (begun) {
        // The write is under way in the store (a multipart upload with a part, a .partial file) when the client goes.
        await expect.poll(() => driver.unfinishedWrites(), { timeout: 5000 }).not.toEqual([]);
      }
      throw new Error('client went away');
    }
    await expect(storage.write('ws/b/file-2', Readable.from(failing()))).rejects.toThrow('client went away');
    expect(await storage.stat('ws/b/file-2')).toBeNull();
    expect(await listAll(storage, 'ws/b')).toEqual([]);
    expect(await driver.unfinishedWrites()).toEqual([]);
  });

  it('puts a small object whole, replacing one of the same key', async () => {
    await storage.put('ws/c/seg-1', Buffer.from('one'));
    expect(await text(await storage.read('ws/c/seg-1'))).toBe('one');
    expect(await storage.stat('ws/c/seg-1')).toEqual({ bytes: 3 });
    await storage.put('ws/c/seg-1', Buffer.from('again'));
    expect(await text(await storage.read('ws/c/seg-1'))).toBe('again');
  });

  it('gets a small object whole, byte for byte, and a missing one as missing', async () => {
    const bytes = Buffer.concat([Buffer.from('{"a":"é"}\n'), Buffer.alloc(300_000, 0x61)]);
    await storage.put('ws/c/seg-2', bytes);
    expect((await storage.get('ws/c/seg-2')).equals(bytes)).toBe(true);
    await storage.put('ws/c/seg-3', Buffer.alloc(0));
    expect((await storage.get('ws/c/seg-3')).length).toBe(0);
    await expect(storage.get('ws/c/seg-4')).rejects.toBeInstanceOf(StoredObjectMissingError);
  });

  it('gets a small object into the buffer it is given, as a view of exactly its bytes', async () => {
    const bytes = Buffer.from('{"b":"ü"}\n'.repeat(50_000));
    await storage.put('ws/c/seg-5', bytes);
    const given = Buffer.alloc(bytes.length + 1000, 0x2a);
    const asked: number[] = [];
    const got = await storage.get('ws/c/seg-5', (size) => {
      asked.push(size);
      return given;
    });
    expect(asked).toEqual([bytes.length]);
    expect(got.equals(bytes)).toBe(true);
    expect(got.buffer).toBe(given.buffer);
    expect(given.subarray(bytes.length).every((byte) => byte === 0x2a)).toBe(true);
  });

  it('lists every key under a prefix across pages, and nothing of a sibling that shares its first letters', async () => {
    const keys = ['ws/batch_1/segments/a', 'ws/batch_1/segments/b', 'ws/batch_1/output-x.jsonl', 'ws/batch_1/z'];
    for (const key of keys) {
      await storage.write(key, Readable.from([Buffer.from(key)]));
    }
    await storage.put('ws/batch_10/output-y.jsonl', Buffer.from('c'));
    await storage.put('ws/batch_2/output-y.jsonl', Buffer.from('d'));
    expect(await listAll(storage, 'ws/batch_1')).toEqual([...keys].sort());
    expect(await listAll(storage, 'ws/batch_3')).toEqual([]);
  });

  it('removes writes a killed process left unfinished once they are old, and nothing else', async () => {
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await driver.leaveUnfinishedWrite('ws/files/file-1', twoHoursAgo);
    await driver.leaveUnfinishedWrite('ws/files/file-2', new Date());
    await storage.write('ws/files/file-3', Readable.from([Buffer.from('kept')]));

    expect(await storage.removeAbandonedWrites(new Date(Date.now() - 3600_000))).toBe(1);
    expect((await driver.unfinishedWrites()).map((key) => key.replace(/\.\w+\.partial$/, ''))).toEqual([
      expect.stringMatching(/ws\/files\/file-2$/),
    ]);
    expect(await text(await storage.read('ws/files/file-3'))).toBe('kept');
    expect(await storage.removeAbandonedWrites(new Date(Date.now() - 3600_000))).toBe(0);
  });
});

describe('S3FileStorage', () => {
  it('keeps its keys under S3_PREFIX and leaves other deployments in the bucket alone', async () => {
    const ours = await s3Driver(() => s3, 'deploy-a/files')();
    const theirs = await s3Driver(() => s3, 'deploy-b')();
    try {
      await ours.storage.put('ws/x/seg', Buffer.from('ours'));
      await theirs.storage.put('ws/x/seg', Buffer.from('theirs'));
      const head = await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'deploy-a/files/ws/x/seg' }));
      expect(head.ContentLength).toBe(4);
      expect(await listAll(ours.storage, 'ws/x')).toEqual(['ws/x/seg']);
      expect(await text(await theirs.storage.read('ws/x/seg'))).toBe('theirs');

      const longAgo = new Date(Date.now() - 2 * 3600_000);
      await ours.leaveUnfinishedWrite('ws/files/file-1', longAgo);
      await theirs.leaveUnfinishedWrite('ws/files/file-1', longAgo);
      expect(await ours.storage.removeAbandonedWrites(new Date())).toBe(1);
      expect(await theirs.unfinishedWrites()).toEqual(['deploy-b/ws/files/file-1']);
      expect(await theirs.storage.removeAbandonedWrites(new Date())).toBe(1);
    } finally {
      await ours.close();
      await theirs.close();
    }
  });

  it('stores a write of more than one part as a multipart upload', async () => {
    const driver = await s3Driver(() => s3, 'multipart')();
    try {
      await driver.storage.write('ws/big', Readable.from([randomBytes(S3_PART_BYTES + 1)]));
      const head = await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'multipart/ws/big' }));
      // A multipart object's ETag is the digest of its parts' digests, followed by their count.
      expect(head.ETag).toMatch(/-2"?$/);
    } finally {
      await driver.close();
    }
  });

  it('reports a store that refuses writes as unavailable (an outage to wait out), and writes again once it takes them', async () => {
    const driver = await s3Driver(() => s3, 'refusing')();
    const allow = s3.refuseWrites('refusing/');
    try {
      await expect(driver.storage.put('ws/seg', Buffer.from('x'))).rejects.toBeInstanceOf(StorageUnavailableError);
      await expect(driver.storage.write('ws/file', Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(
        StorageUnavailableError,
      );
      allow();
      await driver.storage.put('ws/seg', Buffer.from('x'));
      expect(await driver.storage.stat('ws/seg')).toEqual({ bytes: 1 });
    } finally {
      allow();
      await driver.close();
    }
  });
});
