import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { TEST_STORAGE_DRIVER } from './env';
import { newStorageDir } from './processes';
import { type S3TestServer, startS3Server } from './s3-server';

/** The storage an e2e file runs the apps against, and what the tests need to look into it. */
export interface TestStorage {
  driver: 'local' | 's3';
  /** The S3-compatible server behind an s3 store, for what only S3 has (requests seen, multipart uploads). */
  s3?: S3TestServer;
  /** The apps' variables for it: STORAGE_DIR, or STORAGE_DRIVER=s3 with the S3_* settings. */
  env: Record<string, string>;
  /** Every key the store holds under `prefix`, unfinished writes included (marked " (unfinished)" on S3). */
  everything(prefix: string): Promise<string[]>;
  exists(key: string): Promise<boolean>;
  /** A whole object no row knows of: what a request killed between storing and recording it leaves behind. */
  leaveObject(key: string, bytes: Buffer): Promise<void>;
  /** What a process killed mid-write leaves behind (a `.partial` file, a multipart upload), begun at `startedAt`. */
  leaveUnfinishedWrite(key: string, startedAt: Date): Promise<void>;
  /** Keys of writes begun and never finished. */
  unfinishedWrites(): Promise<string[]>;
  /** Makes the store refuse writes under `prefix` (an immutable folder, an S3 server answering 503) until undone. */
  refuseWrites(prefix: string): () => void;
  stop(): Promise<void>;
}

const PARTIAL = /\.\w+\.partial$/;

/** A fresh store of the driver this run tests (TEST_STORAGE_DRIVER); stop it in afterAll. */
export function startTestStorage(driver = TEST_STORAGE_DRIVER): Promise<TestStorage> {
  return driver === 's3' ? s3Storage() : Promise.resolve(localStorage());
}

function localStorage(): TestStorage {
  const root = newStorageDir();
  const files = (dir: string) =>
    existsSync(dir)
      ? readdirSync(dir, { recursive: true, withFileTypes: true })
          .filter((entry) => entry.isFile())
          .map((entry) => relative(root, join(entry.parentPath, entry.name)))
      : [];
  return {
    driver: 'local',
    env: { STORAGE_DIR: root },
    everything: (prefix) => Promise.resolve(files(join(root, prefix)).sort()),
    exists: (key) => Promise.resolve(existsSync(join(root, key))),
    leaveObject: (key, bytes) => {
      mkdirSync(dirname(join(root, key)), { recursive: true });
      writeFileSync(join(root, key), bytes);
      return Promise.resolve();
    },
    leaveUnfinishedWrite: (key, startedAt) => {
      const path = join(root, `${key}.aaaaaaaa.partial`);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, 'half of an upload');
      utimesSync(path, startedAt, startedAt);
      return Promise.resolve();
    },
    unfinishedWrites: () =>
      Promise.resolve(
        files(root)
          .filter((path) => PARTIAL.test(path))
          .map((path) => path.replace(PARTIAL, '')),
      ),
    refuseWrites: (prefix) => {
      // The immutable attribute makes a folder refuse new entries, even for root.
      const dir = join(root, prefix);
      mkdirSync(dir, { recursive: true });
      execFileSync('chattr', ['+i', dir]);
      let undone = false;
      return () => {
        if (!undone) {
          undone = true;
          execFileSync('chattr', ['-i', dir]);
        }
      };
    },
    stop: () => Promise.resolve(),
  };
}

async function s3Storage(): Promise<TestStorage> {
  const server = await startS3Server();
  const objects = async (prefix: string) => {
    const keys: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const listing = await server.client.send(
        new ListObjectsV2Command({ Bucket: server.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      keys.push(...(listing.Contents ?? []).flatMap((object) => (object.Key ? [object.Key] : [])));
      token = listing.NextContinuationToken;
      if (!token) {
        break;
      }
    }
    return keys;
  };
  return {
    driver: 's3',
    s3: server,
    env: server.env,
    everything: async (prefix) =>
      [
        ...(await objects(prefix)),
        ...server
          .uploadsInProgress()
          .filter((key) => key.startsWith(prefix))
          .map((key) => `${key} (unfinished)`),
      ].sort(),
    exists: async (key) => (await objects(key)).includes(key),
    leaveObject: async (key, bytes) => {
      await server.client.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: bytes }));
    },
    leaveUnfinishedWrite: async (key, startedAt) => {
      await server.beginUpload(key);
      server.backdateUploads(key, startedAt);
    },
    unfinishedWrites: () => Promise.resolve(server.uploadsInProgress()),
    refuseWrites: (prefix) => server.refuseWrites(prefix),
    stop: () => server.stop(),
  };
}
