import { Module } from '@nestjs/common';
import { IdempotencyKeyRepository } from '@app/core';
import { IdempotencyInterceptor } from './idempotency.interceptor';
import { IdempotencyService } from './idempotency.service';

/** `Idempotency-Key` on creates: import it, then `@UseInterceptors(IdempotencyInterceptor)` on the route. */
@Module({
  providers: [IdempotencyService, IdempotencyKeyRepository, IdempotencyInterceptor],
  exports: [IdempotencyService, IdempotencyInterceptor],
})
export class IdempotencyModule {}
