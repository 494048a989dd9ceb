import { type CallHandler, type ExecutionContext, Injectable, Logger, type NestInterceptor } from '@nestjs/common';
import type { Request, RequestHandler, Response } from 'express';
import multer from 'multer';
import { catchError, mergeMap, type Observable } from 'rxjs';
import { FileStorage, MAX_BATCH_LINE_BYTES } from '@app/core';
import { multipartError } from '../common/multipart-error';
import { ApiEnvironment } from '../config/api-environment';
import { type StoredUpload, StreamingUploadEngine } from './streaming-upload.engine';

/**
 * Parses the multipart upload with multer, streaming the file into storage, and guarantees that a
 * request which fails afterwards (bad purpose, bad JSONL, anything) leaves no stored bytes behind, nor
 * one answered with another File (an `Idempotency-Key` replay: the first request's File).
 */
@Injectable()
export class FileUploadInterceptor implements NestInterceptor {
  private readonly logger = new Logger(FileUploadInterceptor.name);
  private readonly parseUpload: RequestHandler;

  constructor(
    private readonly storage: FileStorage,
    private readonly env: ApiEnvironment,
  ) {
    this.parseUpload = multer({
      storage: new StreamingUploadEngine(storage, {
        maxBytes: env.BATCH_MAX_FILE_BYTES,
        maxRequests: env.BATCH_MAX_REQUESTS,
        maxLineBytes: MAX_BATCH_LINE_BYTES,
      }),
      limits: { fileSize: env.MAX_UPLOAD_BYTES, files: 1, fields: 20, fieldSize: 64 * 1024, parts: 25 },
      defParamCharset: 'utf8',
    }).single('file');
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const request = context.switchToHttp().getRequest<Request>();
    const response = context.switchToHttp().getResponse<Response>();
    await new Promise<void>((resolve, reject) =>
      this.parseUpload(request, response, (error?: unknown) =>
        error ? reject(multipartError(error, { field: 'file', maxBytes: this.env.MAX_UPLOAD_BYTES })) : resolve(),
      ),
    );
    const upload: (Express.Multer.File & Partial<StoredUpload>) | undefined = request.file;
    return next.handle().pipe(
      catchError(async (error: unknown) => {
        await this.discard(upload, 'rejected');
        throw error;
      }),
      mergeMap(async (answer: unknown) => {
        if ((answer as { id?: unknown } | null)?.id !== upload?.fileId) {
          await this.discard(upload, 'replayed');
        }
        return answer;
      }),
    );
  }

  private async discard(upload: Partial<StoredUpload> | undefined, why: string): Promise<void> {
    const storageKey = upload?.storageKey;
    if (storageKey) {
      await this.storage
        .delete(storageKey)
        .catch((cleanup: Error) => this.logger.error(`Could not remove ${why} upload ${storageKey}`, cleanup.stack));
    }
  }
}
