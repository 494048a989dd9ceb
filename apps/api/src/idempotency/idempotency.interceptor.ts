import {
  type CallHandler,
  type ExecutionContext,
  HttpStatus,
  Injectable,
  Logger,
  type NestInterceptor,
} from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { catchError, finalize, mergeMap, type Observable, of } from 'rxjs';
import { AppError, ErrorCode } from '@app/core';
import { IdempotencyService, LEASE_RENEW_MS } from './idempotency.service';
import { type FingerprintedUpload, requestFingerprint } from './request-fingerprint';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * Makes a create idempotent under the `Idempotency-Key` header: `@UseInterceptors(IdempotencyInterceptor)` on
 * the route (after the upload interceptor on multipart routes, so the file's hash is known). Without the
 * header the request runs as usual. A replayed answer carries `Idempotent-Replayed: true`.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  private readonly logger = new Logger(IdempotencyInterceptor.name);

  constructor(
    private readonly idempotency: IdempotencyService,
    private readonly reflector: Reflector,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const request = context.switchToHttp().getRequest<Request>();
    const key = this.keyOf(request);
    const workspaceId = request.workspace?.id;
    if (key === undefined || workspaceId === undefined) {
      return next.handle();
    }
    const upload = request.file as Partial<FingerprintedUpload> | undefined;
    const fingerprint = requestFingerprint(
      request,
      upload?.sha256 !== undefined && upload.originalname !== undefined
        ? { originalname: upload.originalname, sha256: upload.sha256 }
        : undefined,
    );
    const outcome = await this.idempotency.claim(workspaceId, key, fingerprint);
    if (outcome.kind === 'replay') {
      context.switchToHttp().getResponse<Response>().setHeader('Idempotent-Replayed', 'true');
      return of(outcome.body);
    }
    const status =
      this.reflector.get<number | undefined>(HTTP_CODE_METADATA, context.getHandler()) ??
      (request.method === 'POST' ? HttpStatus.CREATED : HttpStatus.OK);
    const renewal = setInterval(() => void this.idempotency.renew(outcome), LEASE_RENEW_MS);
    return next.handle().pipe(
      catchError(async (error: unknown) => {
        await this.idempotency
          .release(outcome)
          .catch((failure: Error) => this.logger.error(`Could not release Idempotency-Key: ${failure.message}`));
        throw error;
      }),
      // The object exists now: if its answer cannot be recorded, the client still gets it (a retry after the
      // hold lapses would execute again, as it would have without a key).
      mergeMap(async (body: unknown) => {
        await this.idempotency
          .complete(outcome, status, body)
          .catch((failure: Error) => this.logger.error(`Could not record Idempotency-Key answer: ${failure.message}`));
        return body;
      }),
      finalize(() => clearInterval(renewal)),
    );
  }

  /** The header's value; undefined when absent. Empty or longer than 255 characters is a 400. */
  private keyOf(request: Request): string | undefined {
    const key = request.headers[IDEMPOTENCY_KEY_HEADER.toLowerCase()];
    if (key === undefined) {
      return undefined;
    }
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      throw new AppError(
        ErrorCode.InvalidRequest,
        `Invalid '${IDEMPOTENCY_KEY_HEADER}' header: it must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters long.`,
        IDEMPOTENCY_KEY_HEADER,
      );
    }
    return key;
  }
}
