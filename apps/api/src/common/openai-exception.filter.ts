import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppError, ErrorCode, isTransientError, type OpenAIErrorBody, toOpenAIError } from '@app/core';

/**
 * Renders every error as the OpenAI envelope. A dependency that is away (PostgreSQL, Redis, storage down or full)
 * answers 503 with `retry-after`, which the SDKs retry; other unexpected errors are logged with their stack and
 * answered 500.
 */
const OUTAGE_RETRY_AFTER_SECONDS = 1;

@Catch()
export class OpenAIExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response = http.getResponse<Response>();
    const request = http.getRequest<Request>();
    const { status, body } = this.render(exception, request);
    if (response.headersSent) {
      // A streamed download failed half way: the status line is gone, so cut the connection.
      response.destroy();
      return;
    }
    if (
      status === (HttpStatus.CONFLICT as number) ||
      (exception instanceof AppError &&
        (exception.code === ErrorCode.OpenBatchLimitExceeded || exception.code === ErrorCode.BudgetExceeded))
    ) {
      // The SDK retries 409 and 429 by default; a state conflict or a spent budget will not resolve itself, nor
      // will open batches end within the SDK's seconds of backoff.
      response.setHeader('x-should-retry', 'false');
    }
    if (status === (HttpStatus.SERVICE_UNAVAILABLE as number)) {
      response.setHeader('retry-after', String(OUTAGE_RETRY_AFTER_SECONDS));
    }
    response.status(status).json(body);
  }

  private render(exception: unknown, request: Request): { status: number; body: OpenAIErrorBody } {
    if (exception instanceof AppError) {
      return toOpenAIError(exception);
    }
    const cause = exception instanceof HttpException ? exception.cause : exception;
    if (isBodyParserError(cause)) {
      return toOpenAIError(bodyParserError(cause));
    }
    if (exception instanceof HttpException && exception.getStatus() < 500) {
      return this.fromHttpException(exception, request);
    }
    if (isTransientError(exception)) {
      this.logger.warn(
        { method: request.method, path: request.path, cause: (exception as Error).message },
        'A dependency is unavailable',
      );
      return toOpenAIError(
        new AppError(ErrorCode.DependencyUnavailable, 'The service is briefly unavailable. Please retry shortly.'),
      );
    }
    this.logger.error({ err: exception, method: request.method, path: request.path }, 'Unhandled error');
    return toOpenAIError(
      new AppError(ErrorCode.ServerError, 'The server had an error while processing your request. Sorry about that!'),
    );
  }

  private fromHttpException(exception: HttpException, request: Request): { status: number; body: OpenAIErrorBody } {
    const status = exception.getStatus();
    if (status === (HttpStatus.NOT_FOUND as number)) {
      return toOpenAIError(
        new AppError(ErrorCode.RouteNotFound, `Unknown request URL: ${request.method} ${request.path}.`),
      );
    }
    const payload = exception.getResponse();
    const message =
      typeof payload === 'string'
        ? payload
        : [(payload as { message?: unknown }).message].flat().filter(Boolean).join('; ') || exception.message;
    return { status, body: { error: { message, type: 'invalid_request_error', param: null, code: null } } };
  }
}

interface BodyParserError {
  type: string;
  status: number;
  message: string;
}

function isBodyParserError(exception: unknown): exception is BodyParserError {
  const candidate = exception as Partial<BodyParserError> | null;
  return typeof candidate?.type === 'string' && typeof candidate.status === 'number' && candidate.status < 500;
}

function bodyParserError(error: BodyParserError): AppError {
  if (error.type === 'entity.parse.failed') {
    return new AppError(
      ErrorCode.InvalidRequest,
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
    );
  }
  if (error.type === 'entity.too.large') {
    return new AppError(ErrorCode.RequestTooLarge, 'The request body is too large.');
  }
  return new AppError(ErrorCode.InvalidRequest, error.message);
}
