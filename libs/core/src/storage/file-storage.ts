import type { Readable } from 'node:stream';

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, exclusive. */
  end: number;
}

/**
 * Where file bytes live. Callers stream in and out and never see paths, so an object-store
 * implementation can replace the local disk without touching them.
 */
export abstract class FileStorage {
  /** Stores the stream under `key`; the object appears only once the whole stream is written. */
  abstract write(key: string, source: Readable): Promise<{ bytes: number }>;

  /** Stores a small object held in memory whole (a journal segment): one write, no stream. */
  abstract put(key: string, bytes: Buffer): Promise<void>;

  /** Streams the object (or a byte range of it). Rejects with StoredObjectMissingError if absent. */
  abstract read(key: string, range?: ByteRange): Promise<Readable>;

  /** Removes the object; removing a missing object is not an error. */
  abstract delete(key: string): Promise<void>;

  abstract stat(key: string): Promise<{ bytes: number } | null>;

  /**
   * Removes what writes left unfinished when their process died (they never become objects), if untouched
   * since `before`. Returns how many it removed.
   */
  abstract removeAbandonedWrites(before: Date): Promise<number>;

  /**
   * Every stored key under `prefix/`. On local disk unfinished writes are files and are listed too (so they
   * can be cleaned up); in an object store they are not objects, and removeAbandonedWrites handles them.
   */
  abstract list(prefix: string): AsyncIterable<string>;
}

export class StoredObjectMissingError extends Error {
  constructor(readonly key: string) {
    super(`Stored object ${key} is missing`);
  }
}

/** The store is unreachable, overloaded or refusing writes: an outage to wait out, not a wrong request. */
export class StorageUnavailableError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
  }
}
