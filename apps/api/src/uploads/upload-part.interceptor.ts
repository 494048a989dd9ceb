import { type CallHandler, type ExecutionContext, Injectable, Logger, type NestInterceptor } from '@nestjs/common';
import type { Request, RequestHandler, Response } from 'express';
import multer, { type StorageEngine } from 'multer';
import { PassThrough } from 'node:stream';
import { catchError, type Observable } from 'rxjs';
import { AppError, ErrorCode, FileStorage, newUploadPartId, UPLOAD_PART_MAX_BYTES, uploadPartsPrefix } from '@app/core';
import { multipartError } from '../common/multipart-error';
import { UploadsService } from './uploads.service';

/** What a part leaves on `req.file`: its bytes are already stored under `storageKey`. */
export interface StoredPart {
  partId: string;
  storageKey: string;
  size: number;
}

/** Streams the `data` part straight into storage as an object of its own; nothing is buffered. */
class UploadPartEngine implements StorageEngine {
  constructor(private readonly storage: FileStorage) {}

  _handleFile(
    req: Request,
    file: Express.Multer.File,
    callback: (error?: unknown, info?: Partial<StoredPart>) => void,
  ) {
    const workspaceId = req.workspace?.id;
    const uploadId = req.params.upload_id;
    if (!workspaceId || typeof uploadId !== 'string') {
      callback(new Error('Upload part reached storage without a workspace or upload'));
      return;
    }
    const partId = newUploadPartId();
    const storageKey = `${uploadPartsPrefix(workspaceId, uploadId)}/${partId}`;
    // Through a stream of our own, so that the size limit fails the write (busboy only truncates the file).
    const part = new PassThrough();
    file.stream.on('limit', () =>
      part.destroy(
        new AppError(ErrorCode.FileTooLarge, `A part can be at most ${UPLOAD_PART_MAX_BYTES} bytes (64 MB).`, 'data'),
      ),
    );
    file.stream.on('error', (error) => part.destroy(error));
    file.stream.pipe(part);
    this.storage.write(storageKey, part).then(
      ({ bytes }) => callback(null, { partId, storageKey, size: bytes }),
      (error: unknown) => callback(error),
    );
  }

  _removeFile(_req: Request, file: Express.Multer.File & Partial<StoredPart>, callback: (error: Error | null) => void) {
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

/**
 * Checks that the upload takes parts before reading a byte, then parses the multipart body with multer,
 * streaming the part into storage; a part refused afterwards (the upload completed or cancelled meanwhile)
 * leaves no stored bytes behind.
 */
@Injectable()
export class UploadPartInterceptor implements NestInterceptor {
  private readonly logger = new Logger(UploadPartInterceptor.name);
  private readonly parsePart: RequestHandler;

  constructor(
    private readonly storage: FileStorage,
    private readonly uploads: UploadsService,
  ) {
    this.parsePart = multer({
      storage: new UploadPartEngine(storage),
      limits: { fileSize: UPLOAD_PART_MAX_BYTES, files: 1, fields: 5, fieldSize: 64 * 1024, parts: 6 },
    }).single('data');
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const request = context.switchToHttp().getRequest<Request>();
    const response = context.switchToHttp().getResponse<Response>();
    await this.uploads.checkAcceptsParts(request.workspace?.id ?? '', String(request.params.upload_id));
    await new Promise<void>((resolve, reject) =>
      this.parsePart(request, response, (error?: unknown) =>
        error ? reject(multipartError(error, { field: 'data', maxBytes: UPLOAD_PART_MAX_BYTES })) : resolve(),
      ),
    );
    return next.handle().pipe(
      catchError(async (error: unknown) => {
        const part: (Express.Multer.File & Partial<StoredPart>) | undefined = request.file;
        if (part?.storageKey) {
          await this.storage
            .delete(part.storageKey)
            .catch((cleanup: Error) =>
              this.logger.error(`Could not remove refused part ${part.storageKey}`, cleanup.stack),
            );
        }
        throw error;
      }),
    );
  }
}
