import { Module } from '@nestjs/common';
import { RepositoriesModule } from '@app/core';
import { IdempotencyInterceptor } from './idempotency.interceptor';
import { IdempotencyService } from './idempotency.service';

/** `Idempotency-Key` on creates: import it, then `@UseInterceptors(IdempotencyInterceptor)` on the route. */
@Module({
  imports: [RepositoriesModule],
  providers: [IdempotencyService, IdempotencyInterceptor],
  exports: [IdempotencyService, IdempotencyInterceptor],
})
export class IdempotencyModule {}
