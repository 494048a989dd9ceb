import { MulterError } from 'multer';
import { AppError, ErrorCode, isTransientError } from '@app/core';

/** What a multipart body carrying one file part (`field`) may not exceed, for the 413 message. */
export interface MultipartRules {
  field: string;
  maxBytes: number;
}

/**
 * Turns what multer and busboy throw into the OpenAI envelope's errors. Other errors pass through: an outage (a
 * store answering 503, 429 or 403, a full disk, PostgreSQL or Redis away) is for the exception filter to answer 503
 * with retry-after, without the store's text.
 */
export function multipartError(error: unknown, rules: MultipartRules): Error {
  if (error instanceof AppError) {
    return error;
  }
  if (error instanceof MulterError) {
    switch (error.code) {
      case 'LIMIT_FILE_SIZE':
        return new AppError(
          ErrorCode.FileTooLarge,
          `File is too large. The maximum upload size is ${rules.maxBytes} bytes.`,
          rules.field,
        );
      case 'LIMIT_UNEXPECTED_FILE':
        return new AppError(
          ErrorCode.InvalidRequest,
          `Unexpected file field '${error.field}': send the file in the '${rules.field}' field.`,
          rules.field,
        );
      case 'LIMIT_FILE_COUNT':
        return new AppError(ErrorCode.InvalidRequest, 'Only one file can be uploaded per request.', rules.field);
      default:
        return new AppError(ErrorCode.InvalidRequest, `Invalid multipart form: ${error.message}.`);
    }
  }
  const systemError = error as NodeJS.ErrnoException;
  // An outage can carry no errno code either (StorageUnavailableError, a dropped PostgreSQL connection).
  if (error instanceof Error && systemError.code === undefined && !isTransientError(error)) {
    // busboy's parse errors ("Unexpected end of form", "Malformed part header", ...)
    return new AppError(ErrorCode.InvalidRequest, `Invalid multipart form: ${error.message}.`);
  }
  return error instanceof Error ? error : new Error(String(error));
}
