import { Injectable, Logger } from '@nestjs/common';
import { QUEUE_PREFIX } from '@app/core';
import { ApiRedis } from '../redis/api-redis';

/** The counting window: RATE_LIMIT_PER_MINUTE requests per key in any window of this length. */
export const RATE_WINDOW_MS = 60_000;
/** At most one log line per this long while Redis cannot count. */
const FAIL_OPEN_LOG_GAP_MS = 10_000;

// A fixed window per counter that opens with the first event it counts; one round trip. KEYS: the counter.
// ARGV: the window in ms. Returns the events counted in the window (this one included) and the ms it has left.
export const COUNT_IN_WINDOW = `
local used = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return { used, left }`;

export interface WindowCount {
  /** Requests of the key in the current window, this one included. */
  used: number;
  /** Milliseconds until the window closes and the count starts again. */
  resetMs: number;
}

type CountingRedis = ApiRedis['commands'] & {
  countRequest(key: string, windowMs: number): Promise<[number, number]>;
};

/**
 * Counts each API key's requests in Redis, so every api replica sees the same count. Never in a request's
 * way: when Redis cannot answer at once the request is not counted (null) and goes ahead.
 */
@Injectable()
export class RequestRateLimiter {
  private readonly logger = new Logger(RequestRateLimiter.name);
  private readonly redis: CountingRedis;
  private lastFailureLog = 0;

  constructor(redis: ApiRedis) {
    redis.commands.defineCommand('countRequest', { numberOfKeys: 1, lua: COUNT_IN_WINDOW });
    this.redis = redis.commands as CountingRedis;
  }

  async count(apiKeyId: string): Promise<WindowCount | null> {
    try {
      const [used, resetMs] = await this.redis.countRequest(`${QUEUE_PREFIX}:rate:${apiKeyId}`, RATE_WINDOW_MS);
      return { used, resetMs };
    } catch (error) {
      if (Date.now() - this.lastFailureLog >= FAIL_OPEN_LOG_GAP_MS) {
        this.lastFailureLog = Date.now();
        this.logger.warn(`Rate limit not applied (Redis cannot count requests): ${(error as Error).message}`);
      }
      return null;
    }
  }
}
