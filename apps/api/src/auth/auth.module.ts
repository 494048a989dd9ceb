import { Module } from '@nestjs/common';
import { RepositoriesModule } from '@app/core';
import { ApiRedisModule } from '../redis/api-redis.module';
import { ApiKeyCache } from './api-key-cache';
import { ApiKeyGuard } from './api-key.guard';
import { RateLimitModule } from '../rate-limit/rate-limit.module';

/** Exports the guard and all it needs: a guard is built in the module of the controller that uses it. */
@Module({
  imports: [ApiRedisModule, RepositoriesModule, RateLimitModule],
  providers: [ApiKeyGuard, ApiKeyCache],
  exports: [ApiKeyGuard, ApiKeyCache, RepositoriesModule, RateLimitModule],
})
export class AuthModule {}
