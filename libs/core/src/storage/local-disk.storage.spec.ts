import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalDiskStorage } from './local-disk.storage';

/** What only the local disk does; what every driver does is in test/integration/file-storage.integration-spec.ts. */
describe('LocalDiskStorage', () => {
  let root: string;
  let storage: LocalDiskStorage;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'venna-storage-'));
    storage = new LocalDiskStorage(root);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('puts again after its folder was removed, and never leaves a partial behind', async () => {
    await storage.put('ws/c/seg-1', Buffer.from('one'));
    await rm(join(root, 'ws/c'), { recursive: true });
    await storage.put('ws/c/seg-2', Buffer.from('two'));
    expect(await text(await storage.read('ws/c/seg-2'))).toBe('two');
    expect(await readdir(join(root, 'ws/c'))).toEqual(['seg-2']);
  });

  it('rejects keys that escape the root', async () => {
    await expect(storage.stat('../etc/passwd')).rejects.toThrow(/Unsafe/);
    await expect(storage.stat('a/../../x')).rejects.toThrow(/Unsafe/);
  });
});
