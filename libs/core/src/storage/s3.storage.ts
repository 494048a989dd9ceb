import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { OnApplicationShutdown } from '@nestjs/common';
import { pipeline, Readable, Transform } from 'node:stream';
import {
  type AllocateBuffer,
  type AssembledPart,
  type ByteRange,
  type CopySource,
  FileStorage,
  newBuffer,
  type ObjectAssembly,
  StorageUnavailableError,
  StoredObjectMissingError,
} from './file-storage';

/**
 * Multipart part size and parts in flight: a write holds at most about PART_BYTES x (PARTS_IN_FLIGHT + 1)
 * in memory, whatever the size of the file. 5 MiB is the smallest part S3 accepts.
 */
export const S3_PART_BYTES = 5 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;

export interface S3StorageOptions {
  bucket: string;
  region: string;
  /** Another S3-compatible store (MinIO, R2, Ceph ...); unset = AWS. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  forcePathStyle: boolean;
  /** Every key goes under `prefix/`, so one bucket can hold several deployments. */
  prefix?: string;
}

/**
 * Objects in an S3-compatible bucket. A write is a multipart upload (one PutObject below a part), so
 * an object appears only once its whole stream is stored; a failed write is aborted and leaves
 * nothing. Unfinished uploads of killed processes are not objects: removeAbandonedWrites aborts them.
 */
export class S3FileStorage extends FileStorage implements OnApplicationShutdown {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(options: S3StorageOptions) {
    super();
    this.bucket = options.bucket;
    this.prefix = options.prefix ? `${options.prefix}/` : '';
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
      // Other S3-compatible stores often reject the checksum trailers the SDK adds by default to AWS requests.
      ...(options.endpoint
        ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
        : {}),
      // No request or idle timeout: a download paced by a slow client leaves its S3 socket idle for long.
      requestHandler: { connectionTimeout: 10_000 },
    });
  }

  async write(key: string, source: Readable): Promise<{ bytes: number }> {
    let bytes = 0;
    const counted = pipeline(
      source,
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          done(null, chunk);
        },
      }),
      // An error of the source destroys `counted`, which fails the upload below: the error is seen there.
      () => undefined,
    );
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.objectKey(key), Body: counted },
      partSize: S3_PART_BYTES,
      queueSize: PARTS_IN_FLIGHT,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      counted.destroy();
      throw this.translated(error);
    }
    return { bytes };
  }

  async put(key: string, bytes: Buffer): Promise<void> {
    await this.call((s3) =>
      s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: bytes })),
    );
  }

  async get(key: string, allocate: AllocateBuffer = newBuffer): Promise<Buffer> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      const into = allocate(object.ContentLength ?? 0);
      let read = 0;
      for await (const chunk of (object.Body ?? Readable.from([])) as AsyncIterable<Buffer>) {
        if (read + chunk.length > into.length) {
          throw new Error(`The object ${key} is longer than its Content-Length`);
        }
        read += chunk.copy(into, read);
      }
      return into.subarray(0, read);
    } catch (error) {
      if (statusOf(error) === 404) {
        throw new StoredObjectMissingError(key);
      }
      throw this.translated(error);
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    if (range && range.end <= range.start) {
      if (!(await this.stat(key))) {
        throw new StoredObjectMissingError(key);
      }
      return Readable.from([]);
    }
    try {
      const object = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Range: range ? `bytes=${range.start}-${range.end - 1}` : undefined,
        }),
      );
      return object.Body as Readable;
    } catch (error) {
      if (statusOf(error) === 404) {
        throw new StoredObjectMissingError(key);
      }
      // A range that starts past the end reads nothing, as from a file.
      if (statusOf(error) === 416) {
        return Readable.from([]);
      }
      throw this.translated(error);
    }
  }

  async delete(key: string): Promise<void> {
    await this.call((s3) => s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) })));
  }

  async stat(key: string): Promise<{ bytes: number } | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return { bytes: head.ContentLength ?? 0 };
    } catch (error) {
      if (statusOf(error) === 404) {
        return null;
      }
      throw this.translated(error);
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    const pages = paginateListObjectsV2(
      { client: this.client },
      { Bucket: this.bucket, Prefix: this.objectKey(`${prefix}/`) },
    );
    try {
      for await (const page of pages) {
        for (const object of page.Contents ?? []) {
          if (object.Key) {
            yield object.Key.slice(this.prefix.length);
          }
        }
      }
    } catch (error) {
      throw this.translated(error);
    }
  }

  override get assembly(): ObjectAssembly {
    return this.multipart;
  }

  /** Assemblies are multipart uploads the caller drives part by part (the Uploads API's parts). */
  private readonly multipart: ObjectAssembly = {
    begin: async (key) => {
      const { UploadId } = await this.call((s3) =>
        s3.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.objectKey(key) })),
      );
      if (!UploadId) {
        throw new StorageUnavailableError(`Object store gave no upload id for ${key}`, undefined);
      }
      return UploadId;
    },
    addPart: async (key, assemblyId, number, bytes) => {
      const { ETag } = await this.call((s3) =>
        s3.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: this.objectKey(key),
            UploadId: assemblyId,
            PartNumber: number,
            Body: bytes,
          }),
        ),
      );
      if (!ETag) {
        throw new StorageUnavailableError(`Object store gave no ETag for part ${number} of ${key}`, undefined);
      }
      return { number, etag: ETag, bytes: bytes.length };
    },
    copyPart: async (key, assemblyId, number, source: CopySource) => {
      const { CopyPartResult } = await this.call((s3) =>
        s3.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: this.objectKey(key),
            UploadId: assemblyId,
            PartNumber: number,
            CopySource: `${this.bucket}/${this.objectKey(source.key).split('/').map(encodeURIComponent).join('/')}`,
            // S3 copies a range only of a source above 5 MiB: a whole small object is copied without one.
            CopySourceRange:
              source.start === undefined ? undefined : `bytes=${source.start}-${source.start + source.bytes - 1}`,
          }),
        ),
      );
      if (!CopyPartResult?.ETag) {
        throw new StorageUnavailableError(`Object store gave no ETag for copied part ${number} of ${key}`, undefined);
      }
      return { number, etag: CopyPartResult.ETag, bytes: source.bytes };
    },
    join: async (key, assemblyId, parts: readonly AssembledPart[]) => {
      await this.call((s3) =>
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: this.objectKey(key),
            UploadId: assemblyId,
            MultipartUpload: { Parts: parts.map((part) => ({ PartNumber: part.number, ETag: part.etag })) },
          }),
        ),
      );
    },
    abandon: async (key, assemblyId) => {
      await this.abortUpload(this.objectKey(key), assemblyId);
    },
  };

  async removeAbandonedWrites(before: Date, keep: ReadonlySet<string> = new Set()): Promise<number> {
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    // Bounded: every page moves the markers forward, and S3 ends the listing with IsTruncated false.
    for (let page = 0; page < 10_000; page++) {
      const listing = await this.call((s3) =>
        s3.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: this.prefix || undefined,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        ),
      );
      for (const upload of listing.Uploads ?? []) {
        if (
          upload.Key &&
          upload.UploadId &&
          upload.Initiated &&
          upload.Initiated < before &&
          !keep.has(upload.Key.slice(this.prefix.length))
        ) {
          removed += (await this.abortUpload(upload.Key, upload.UploadId)) ? 1 : 0;
        }
      }
      if (!listing.IsTruncated) {
        break;
      }
      keyMarker = listing.NextKeyMarker;
      uploadIdMarker = listing.NextUploadIdMarker;
    }
    return removed;
  }

  onApplicationShutdown(): void {
    this.client.destroy();
  }

  /** Whether this call aborted the upload (it may have completed or been aborted meanwhile). */
  private async abortUpload(objectKey: string, uploadId: string): Promise<boolean> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId }),
      );
      return true;
    } catch (error) {
      if (statusOf(error) === 404) {
        return false;
      }
      throw this.translated(error);
    }
  }

  private async call<T>(operation: (client: S3Client) => Promise<T>): Promise<T> {
    try {
      return await operation(this.client);
    } catch (error) {
      throw this.translated(error);
    }
  }

  private objectKey(key: string): string {
    return `${this.prefix}${key}`;
  }

  /**
   * The store answering that it is down, overloaded or refusing us (5xx, 429, 403) is an outage to wait
   * out, like a full or read-only disk; network errors keep their errno code, which says the same.
   */
  private translated(error: unknown): unknown {
    const status = statusOf(error);
    if (status !== undefined && (status >= 500 || status === 429 || status === 403)) {
      return new StorageUnavailableError(`Object store answered ${status}: ${(error as Error).message}`, error);
    }
    return error;
  }
}

function statusOf(error: unknown): number | undefined {
  if (error instanceof S3ServiceException) {
    return error.$metadata.httpStatusCode;
  }
  return undefined;
}
