import { applyDecorators, UseInterceptors } from '@nestjs/common';
import { ApiHeader, ApiResponse } from '@nestjs/swagger';
import { OpenAIErrorResponseDto } from '../common/openai-error.schema';
import { IDEMPOTENCY_KEY_HEADER, IdempotencyInterceptor, MAX_IDEMPOTENCY_KEY_LENGTH } from './idempotency.interceptor';

/** Documents the `Idempotency-Key` header (a Venna extension) and its 409s on a create. */
export const ApiIdempotencyKey = () =>
  applyDecorators(
    ApiHeader({
      name: IDEMPOTENCY_KEY_HEADER,
      required: false,
      schema: { type: 'string', minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH },
      description:
        '**Venna extension.** A key (1–255 characters) unique to this create, scoped to the workspace. A repeat ' +
        'with the same key and the same request within 24 hours (IDEMPOTENCY_TTL_SECONDS) answers the first ' +
        'answer again, with `Idempotent-Replayed: true`, and creates nothing; a repeat while the first still runs ' +
        'waits for it. The same key with a different request answers 409 `idempotency_key_reused`. A request that ' +
        'fails (4xx or 5xx) does not keep the key. With the official SDK pass it as a header option ' +
        "(`{ headers: { 'Idempotency-Key': key } }`): the SDK sends it again on each of its retries.",
    }),
    ApiResponse({
      status: 409,
      description: 'OpenAI error envelope: `idempotency_key_reused`, or `idempotency_key_in_use` (retry shortly)',
      type: OpenAIErrorResponseDto,
    }),
  );

/**
 * Makes a JSON create idempotent under `Idempotency-Key` (the module: IdempotencyModule). On a multipart route
 * list IdempotencyInterceptor after the upload interceptor instead, so the file's hash is known.
 */
export const Idempotent = () => applyDecorators(UseInterceptors(IdempotencyInterceptor), ApiIdempotencyKey());
