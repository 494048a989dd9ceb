import { type CallHandler, type ExecutionContext, Injectable, Logger, type NestInterceptor } from '@nestjs/common';
import type { Request, RequestHandler, Response } from 'express';
import multer, { MulterError } from 'multer';
import { catchError, mergeMap, type Observable } from 'rxjs';
import { AppError, ErrorCode, FileStorage, MAX_BATCH_LINE_BYTES } from '@app/core';
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
      this.parseUpload(request, response, (error?: unknown) => (error ? reject(this.toAppError(error)) : resolve())),
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

  private toAppError(error: unknown): Error {
    if (error instanceof AppError) {
      return error;
    }
    if (error instanceof MulterError) {
      switch (error.code) {
        case 'LIMIT_FILE_SIZE':
          return new AppError(
            ErrorCode.FileTooLarge,
            `File is too large. The maximum upload size is ${this.env.MAX_UPLOAD_BYTES} bytes.`,
            'file',
          );
        case 'LIMIT_UNEXPECTED_FILE':
          return new AppError(
            ErrorCode.InvalidRequest,
            `Unexpected file field '${error.field}': send the file in the 'file' field.`,
            'file',
          );
        case 'LIMIT_FILE_COUNT':
          return new AppError(ErrorCode.InvalidRequest, 'Only one file can be uploaded per request.', 'file');
        default:
          return new AppError(ErrorCode.InvalidRequest, `Invalid multipart form: ${error.message}.`);
      }
    }
    const systemError = error as NodeJS.ErrnoException;
    if (error instanceof Error && systemError.code === undefined) {
      // busboy's parse errors ("Unexpected end of form", "Malformed part header", ...)
      return new AppError(ErrorCode.InvalidRequest, `Invalid multipart form: ${error.message}.`);
    }
    return error instanceof Error ? error : new Error(String(error));
  }
}
