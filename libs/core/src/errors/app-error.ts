import { ErrorCode } from './error-codes';

/** A domain error: services throw it, the api's exception filter renders it as the OpenAI envelope. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly param: string | null = null,
    /** A finer wire `code` than the ErrorCode's own, e.g. the batch input rule a file breaks. */
    readonly wireCode?: string,
  ) {
    super(message);
    this.name = 'AppError';
  }
}
