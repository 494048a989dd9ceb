import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoredObjectMissingError } from './file-storage';
import { LocalDiskStorage } from './local-disk.storage';

describe('LocalDiskStorage', () => {
  let root: string;
  let storage: LocalDiskStorage;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'venna-storage-'));
    storage = new LocalDiskStorage(root);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('writes, stats, reads whole and by range, and deletes', async () => {
    expect(await storage.write('ws/a/file-1', Readable.from([Buffer.from('hello '), Buffer.from('world')]))).toEqual({
      bytes: 11,
    });
    expect(await storage.stat('ws/a/file-1')).toEqual({ bytes: 11 });
    expect(await text(await storage.read('ws/a/file-1'))).toBe('hello world');
    expect(await text(await storage.read('ws/a/file-1', { start: 6, end: 11 }))).toBe('world');
    await storage.delete('ws/a/file-1');
    await storage.delete('ws/a/file-1');
    expect(await storage.stat('ws/a/file-1')).toBeNull();
    await expect(storage.read('ws/a/file-1')).rejects.toBeInstanceOf(StoredObjectMissingError);
  });

  it('leaves nothing behind when the source stream fails half way', async () => {
    async function* failing() {
      yield Buffer.from('partial data');
      throw new Error('client went away');
    }
    await expect(storage.write('ws/b/file-2', Readable.from(failing()))).rejects.toThrow('client went away');
    expect(await readdir(join(root, 'ws/b'))).toEqual([]);
  });

  it('puts a small object whole, again after its folder was removed, and never leaves a partial behind', async () => {
    await storage.put('ws/c/seg-1', Buffer.from('one'));
    expect(await text(await storage.read('ws/c/seg-1'))).toBe('one');
    await rm(join(root, 'ws/c'), { recursive: true });
    await storage.put('ws/c/seg-2', Buffer.from('two'));
    expect(await text(await storage.read('ws/c/seg-2'))).toBe('two');
    expect(await readdir(join(root, 'ws/c'))).toEqual(['seg-2']);
  });

  it('lists every key under a prefix, unfinished writes included', async () => {
    await storage.write('ws/batch_1/segments/a', Readable.from([Buffer.from('a')]));
    await storage.write('ws/batch_1/output-x.jsonl', Readable.from([Buffer.from('b')]));
    await storage.write('ws/batch_2/output-y.jsonl', Readable.from([Buffer.from('c')]));
    const list = async (prefix: string) => {
      const keys = [];
      for await (const key of storage.list(prefix)) {
        keys.push(key);
      }
      return keys.sort();
    };
    expect(await list('ws/batch_1')).toEqual(['ws/batch_1/output-x.jsonl', 'ws/batch_1/segments/a']);
    expect(await list('ws/batch_3')).toEqual([]);
  });

  it('removes writes a killed process left unfinished once they are old, and nothing else', async () => {
    await mkdir(join(root, 'ws/files'), { recursive: true });
    const stale = join(root, 'ws/files/file-1.aaaaaaaa.partial');
    const fresh = join(root, 'ws/files/file-2.bbbbbbbb.partial');
    await writeFile(stale, 'killed mid-upload');
    await writeFile(fresh, 'still arriving');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(stale, twoHoursAgo, twoHoursAgo);
    await storage.write('ws/files/file-3', Readable.from([Buffer.from('kept')]));
    await utimes(join(root, 'ws/files/file-3'), twoHoursAgo, twoHoursAgo);

    expect(await storage.removeAbandonedWrites(new Date(Date.now() - 3600_000))).toBe(1);
    expect((await readdir(join(root, 'ws/files'))).sort()).toEqual(['file-2.bbbbbbbb.partial', 'file-3']);
  });

  it('rejects keys that escape the root', async () => {
    await expect(storage.stat('../etc/passwd')).rejects.toThrow(/Unsafe/);
    await expect(storage.stat('a/../../x')).rejects.toThrow(/Unsafe/);
  });
});
