import type { Readable } from 'node:stream';

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, exclusive. */
  end: number;
}

/** A buffer of at least `bytes` for an object's content. */
export type AllocateBuffer = (bytes: number) => Buffer;

export const newBuffer: AllocateBuffer = (bytes) => Buffer.allocUnsafe(bytes);

/**
 * Where file bytes live. Callers stream in and out and never see paths, so an object-store
 * implementation can replace the local disk without touching them.
 */
export abstract class FileStorage {
  /** Stores the stream under `key`; the object appears only once the whole stream is written. */
  abstract write(key: string, source: Readable): Promise<{ bytes: number }>;

  /** Stores a small object held in memory whole (a journal segment): one write, no stream. */
  abstract put(key: string, bytes: Buffer): Promise<void>;

  /**
   * Reads a small object whole (a journal segment): one read, no stream, into a buffer from `allocate` (a new one by
   * default). Returns the object's bytes, a view of that buffer. Rejects with StoredObjectMissingError if absent.
   */
  abstract get(key: string, allocate?: AllocateBuffer): Promise<Buffer>;

  /** Streams the object (or a byte range of it). Rejects with StoredObjectMissingError if absent. */
  abstract read(key: string, range?: ByteRange): Promise<Readable>;

  /** Removes the object; removing a missing object is not an error. */
  abstract delete(key: string): Promise<void>;

  abstract stat(key: string): Promise<{ bytes: number } | null>;

  /**
   * Removes what writes left unfinished when their process died (they never become objects), if untouched
   * since `before`, except assemblies of the keys in `keep` (still being sent). Returns how many it removed.
   */
  abstract removeAbandonedWrites(before: Date, keep?: ReadonlySet<string>): Promise<number>;

  /** Where the store can join parts into an object itself (S3 multipart uploads); null where it cannot. */
  get assembly(): ObjectAssembly | null {
    return null;
  }

  /**
   * Every stored key under `prefix/`. On local disk unfinished writes are files and are listed too (so they
   * can be cleaned up); in an object store they are not objects, and removeAbandonedWrites handles them.
   */
  abstract list(prefix: string): AsyncIterable<string>;
}

/** S3's rules for the parts of a multipart upload: numbers 1 to 10,000, each part but the last at least 5 MiB. */
export const ASSEMBLY_MAX_PARTS = 10_000;
export const ASSEMBLY_MIN_PART_BYTES = 5 * 1024 * 1024;

/** `bytes` bytes of a stored object to copy: from `start`, or the whole object when no start is given. */
export interface CopySource {
  key: string;
  bytes: number;
  start?: number;
}

export interface AssembledPart {
  number: number;
  /** What the store answered for the part; joining names each part by number and etag. */
  etag: string;
  bytes: number;
}

/**
 * An object built by the store from parts sent at different times and in any order, joined in ascending
 * part number without a byte passing through us (an S3 multipart upload). Parts never joined, and the
 * assembly itself until it is joined or abandoned, are not objects: they cannot be read, listed or deleted.
 */
export interface ObjectAssembly {
  /** Starts assembling the object `key`; returns the assembly's id. */
  begin(key: string): Promise<string>;
  addPart(key: string, assemblyId: string, number: number, bytes: Buffer): Promise<AssembledPart>;
  /** Adds a part the store copies from a stored object, or a range of it: no byte passes through us. */
  copyPart(key: string, assemblyId: string, number: number, source: CopySource): Promise<AssembledPart>;
  /** Makes `key` the given parts, in ascending number, and ends the assembly (parts not named are dropped). */
  join(key: string, assemblyId: string, parts: readonly AssembledPart[]): Promise<void>;
  /** Ends the assembly and drops its parts; an assembly already joined or abandoned is not an error. */
  abandon(key: string, assemblyId: string): Promise<void>;
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
