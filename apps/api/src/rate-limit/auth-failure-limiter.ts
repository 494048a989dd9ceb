import { Injectable, Logger } from '@nestjs/common';
import { QUEUE_PREFIX } from '@app/core';
import { ApiEnvironment } from '../config/api-environment';
import { ApiRedis } from '../redis/api-redis';
import { clientAddressKey } from './client-address';
import { COUNT_IN_WINDOW, RATE_WINDOW_MS } from './request-rate-limiter';

/** At most one log line per this long while Redis cannot count. */
const FAIL_OPEN_LOG_GAP_MS = 10_000;

// KEYS: the address's counter. ARGV: the limit. Returns the ms until the window closes once the limit is reached,
// else 0.
const WAIT_MS = `
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
if failures < tonumber(ARGV[1]) then return 0 end
return math.max(redis.call('PTTL', KEYS[1]), 0)`;

type CountingRedis = ApiRedis['commands'] & {
  countAuthFailure(key: string, windowMs: number): Promise<[number, number]>;
  authFailureWaitMs(key: string, limit: number): Promise<number>;
};

/**
 * AUTH_FAILURES_PER_MINUTE per client address, counted in Redis so every api replica sees the same count. Asked
 * before a key is looked up, so an address past its limit costs no query. Never in a request's way: when Redis
 * cannot answer at once, nothing is counted and nothing is refused.
 */
@Injectable()
export class AuthFailureLimiter {
  private readonly logger = new Logger(AuthFailureLimiter.name);
  private readonly redis: CountingRedis;
  private readonly limit: number;
  private lastFailureLog = 0;

  constructor(redis: ApiRedis, env: ApiEnvironment) {
    redis.commands.defineCommand('countAuthFailure', { numberOfKeys: 1, lua: COUNT_IN_WINDOW });
    redis.commands.defineCommand('authFailureWaitMs', { numberOfKeys: 1, lua: WAIT_MS });
    this.redis = redis.commands as CountingRedis;
    this.limit = env.AUTH_FAILURES_PER_MINUTE;
  }

  get perMinute(): number {
    return this.limit;
  }

  /** How long the client at `ip` must wait before it may authenticate again: 0 when it may now. */
  async waitMs(ip: string | undefined): Promise<number> {
    if (this.limit === 0) {
      return 0;
    }
    try {
      return await this.redis.authFailureWaitMs(counterOf(ip), this.limit);
    } catch (error) {
      this.failedOpen(error as Error);
      return 0;
    }
  }

  async recordFailure(ip: string | undefined): Promise<void> {
    if (this.limit === 0) {
      return;
    }
    try {
      await this.redis.countAuthFailure(counterOf(ip), RATE_WINDOW_MS);
    } catch (error) {
      this.failedOpen(error as Error);
    }
  }

  private failedOpen(error: Error): void {
    if (Date.now() - this.lastFailureLog >= FAIL_OPEN_LOG_GAP_MS) {
      this.lastFailureLog = Date.now();
      this.logger.warn(`Failed authentications not limited (Redis cannot count them): ${error.message}`);
    }
  }
}

const counterOf = (ip: string | undefined) => `${QUEUE_PREFIX}:auth-failures:${clientAddressKey(ip)}`;
