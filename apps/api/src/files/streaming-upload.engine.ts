import type { Request } from 'express';
import type { StorageEngine } from 'multer';
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { AppError, ErrorCode, fileStorageKey, FileStorage, newFileId } from '@app/core';
import { type BatchFileInspection, BatchFileInspector, type BatchFileLimits } from './batch-file-inspector';

/** What the upload leaves on `req.file`: the bytes are already stored under `storageKey`. */
export interface StoredUpload {
  originalname: string;
  fileId: string;
  storageKey: string;
  size: number;
  /** SHA-256 (hex) of the bytes, computed as they streamed: part of an `Idempotency-Key` fingerprint. */
  sha256: string;
  /** Batch-rule check of the content; null when the purpose was known early and is not batch. */
  inspection: BatchFileInspection | null;
}

/**
 * A multer storage engine that streams the file part straight into FileStorage while checking the
 * batch rules on the same bytes. Nothing is buffered; an aborted or oversized upload leaves nothing.
 */
export class StreamingUploadEngine implements StorageEngine {
  constructor(
    private readonly storage: FileStorage,
    private readonly batchLimits: BatchFileLimits,
  ) {}

  _handleFile(
    req: Request,
    file: Express.Multer.File,
    callback: (error?: unknown, info?: Partial<StoredUpload>) => void,
  ) {
    const workspaceId = req.workspace?.id;
    if (!workspaceId) {
      callback(new Error('Upload reached storage without a workspace'));
      return;
    }
    const fileId = newFileId();
    const storageKey = fileStorageKey(workspaceId, fileId);
    // The SDK sends the file before `purpose`: when purpose is not known yet, the batch rules are checked anyway.
    const purpose: unknown = (req.body as { purpose?: unknown } | undefined)?.purpose;
    const inspector =
      typeof purpose === 'string' && purpose !== 'batch' ? null : new BatchFileInspector(this.batchLimits);
    const digest = createHash('sha256');
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        digest.update(chunk);
        inspector?.push(chunk);
        done(null, chunk);
      },
    });
    file.stream.on('limit', () => meter.destroy(new AppError(ErrorCode.FileTooLarge, 'File is too large.', 'file')));
    file.stream.on('error', (error) => meter.destroy(error));
    file.stream.pipe(meter);
    this.storage.write(storageKey, meter).then(
      ({ bytes }) =>
        callback(null, {
          fileId,
          storageKey,
          size: bytes,
          sha256: digest.digest('hex'),
          inspection: inspector?.result() ?? null,
        }),
      (error: unknown) => callback(error),
    );
  }

  _removeFile(
    _req: Request,
    file: Express.Multer.File & Partial<StoredUpload>,
    callback: (error: Error | null) => void,
  ) {
    if (!file.storageKey) {
      callback(null);
      return;
    }
    this.storage.delete(file.storageKey).then(
      () => callback(null),
      (error: Error) => callback(error),
    );
  }
}
