import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBase62 } from '../ids/ids';
import { type AllocateBuffer, type ByteRange, FileStorage, newBuffer, StoredObjectMissingError } from './file-storage';

const MAX_REMEMBERED_FOLDERS = 1024;

const PARTIAL_SUFFIX = '.partial';

const SAFE_KEY = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.-]+)*$/;

/** Files under STORAGE_DIR, written to a temporary name and renamed into place when complete. */
export class LocalDiskStorage extends FileStorage {
  private readonly root: string;

  constructor(root: string) {
    super();
    this.root = resolve(root);
  }

  async write(key: string, source: Readable): Promise<{ bytes: number }> {
    const target = this.pathOf(key);
    const partial = `${target}.${randomBase62(8)}${PARTIAL_SUFFIX}`;
    // The source may fail while the folder is made; pipeline() then finds the error on the stream.
    source.on('error', () => undefined);
    await mkdir(dirname(target), { recursive: true });
    try {
      await pipeline(source, createWriteStream(partial, { flags: 'wx' }));
      await rename(partial, target);
    } catch (error) {
      await unlink(partial).catch(() => undefined);
      throw error;
    }
    return { bytes: (await stat(target)).size };
  }

  async put(key: string, bytes: Buffer): Promise<void> {
    const target = this.pathOf(key);
    const partial = `${target}.${randomBase62(8)}${PARTIAL_SUFFIX}`;
    try {
      await this.writeNew(partial, bytes);
      await rename(partial, target);
    } catch (error) {
      await unlink(partial).catch(() => undefined);
      throw error;
    }
  }

  async get(key: string, allocate: AllocateBuffer = newBuffer): Promise<Buffer> {
    const file = await open(this.pathOf(key), 'r').catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'ENOENT' ? new StoredObjectMissingError(key) : error;
    });
    try {
      const { size } = await file.stat();
      const into = allocate(size);
      let read = 0;
      while (read < size) {
        const { bytesRead } = await file.read(into, read, size - read, read);
        if (bytesRead === 0) {
          break;
        }
        read += bytesRead;
      }
      return into.subarray(0, read);
    } finally {
      await file.close();
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.pathOf(key);
    // Opened here, not lazily by the stream: a delete after this returns cannot fail a read not started yet.
    const file = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'ENOENT' ? new StoredObjectMissingError(key) : error;
    });
    if (range && range.end <= range.start) {
      await file.close();
      return Readable.from([]);
    }
    return file.createReadStream(range ? { start: range.start, end: range.end - 1 } : {});
  }

  async delete(key: string): Promise<void> {
    await unlink(this.pathOf(key)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') {
        throw error;
      }
    });
  }

  async stat(key: string): Promise<{ bytes: number } | null> {
    try {
      return { bytes: (await stat(this.pathOf(key))).size };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return null;
      }
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    let entries;
    try {
      entries = await readdir(this.pathOf(prefix), { recursive: true, withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return;
      }
      throw error;
    }
    for (const entry of entries) {
      if (entry.isFile()) {
        yield relative(this.root, resolve(entry.parentPath, entry.name)).split(sep).join('/');
      }
    }
  }

  async removeAbandonedWrites(before: Date): Promise<number> {
    let removed = 0;
    const entries = await readdir(this.root, { recursive: true, withFileTypes: true }).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') {
          return [];
        }
        throw error;
      },
    );
    for (const entry of entries) {
      if (!entry.isFile() || !entry.name.endsWith(PARTIAL_SUFFIX)) {
        continue;
      }
      const path = resolve(entry.parentPath, entry.name);
      const stats = await stat(path).catch(() => null);
      if (stats && stats.mtime < before) {
        await unlink(path).catch(() => undefined);
        removed++;
      }
    }
    return removed;
  }

  /** Folders this process made lately: a batch writes many segments into one, and a mkdir each time shows in profiles. */
  private readonly folders = new Set<string>();

  private async writeNew(path: string, bytes: Buffer): Promise<void> {
    const folder = dirname(path);
    if (!this.folders.has(folder)) {
      await mkdir(folder, { recursive: true });
      if (this.folders.size >= MAX_REMEMBERED_FOLDERS) {
        this.folders.clear();
      }
      this.folders.add(folder);
    }
    try {
      await writeFile(path, bytes, { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw error;
      }
      // Removed since: make it again.
      this.folders.delete(folder);
      await mkdir(folder, { recursive: true });
      await writeFile(path, bytes, { flag: 'wx' });
    }
  }

  private pathOf(key: string): string {
    if (!SAFE_KEY.test(key) || key.split('/').some((part) => part === '.' || part === '..')) {
      throw new Error(`Unsafe storage key: ${key}`);
    }
    const path = resolve(this.root, key);
    if (!path.startsWith(this.root + sep)) {
      throw new Error(`Unsafe storage key: ${key}`);
    }
    return path;
  }
}
