import { Module } from '@nestjs/common';
import { ApiRedisModule } from '../redis/api-redis.module';
import { AuthFailureLimiter } from './auth-failure-limiter';
import { RateLimitGuard } from './rate-limit.guard';
import { RequestRateLimiter } from './request-rate-limiter';

/** Exports the guard and what it needs: a guard is built in the module of the controller that uses it. */
@Module({
  imports: [ApiRedisModule],
  providers: [RequestRateLimiter, RateLimitGuard, AuthFailureLimiter],
  exports: [RequestRateLimiter, RateLimitGuard, AuthFailureLimiter],
})
export class RateLimitModule {}
