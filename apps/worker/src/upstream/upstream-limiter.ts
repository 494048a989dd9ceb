import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { QUEUE_PREFIX, randomBase62, redisOptionsFromUrl } from '@app/core';
import { WorkerEnvironment } from '../config/worker-environment';
import type { Upstream } from './upstream-routes';

/** How an answer bears on the upstream's capacity. */
export type Congestion = 'clean' | 'congested' | 'neutral';

/** A held slot of an upstream's shared concurrency limit. */
export interface UpstreamLease {
  key: string;
  id: string;
}

/** A lease not renewed for this long (its worker died) is given back. */
const LEASE_TTL_MS = 15_000;
/** At most one halving per this long: a burst of 429s from one window is one signal, not many. */
const DECREASE_GAP_MS = 100;
/** Without a configured max_concurrency, an upstream is probed up to this many requests at once. */
const UNBOUNDED = 10_000;
/** The limit an upstream starts at when none is configured; slow start grows it quickly while answers are clean. */
const DEFAULT_START = 32;
const POLL_MIN_MS = 2;
const POLL_MAX_MS = 50;

// KEYS: leases zset, state hash. ARGV: lease id, ttl, start limit, max limit.
// Returns 1 (granted), 0 (full), or -ms (paused by retry-after for that long).
const ACQUIRE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local state = redis.call('HMGET', KEYS[2], 'limit', 'paused_until')
local limit = tonumber(state[1]) or tonumber(ARGV[3])
local paused = tonumber(state[2]) or 0
if now < paused then return -(paused - now) end
if redis.call('ZCARD', KEYS[1]) < math.max(1, math.floor(math.min(limit, tonumber(ARGV[4])))) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
  return 1
end
return 0`;

// KEYS: leases zset, state hash. ARGV: lease id, congestion, retry-after ms, start limit, max limit, decrease gap.
// Additive increase (slow start until the first congestion), multiplicative decrease, retry-after pauses everyone.
const RELEASE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREM', KEYS[1], ARGV[1])
local state = redis.call('HMGET', KEYS[2], 'limit', 'congested', 'decreased_at', 'paused_until')
local limit = tonumber(state[1]) or tonumber(ARGV[4])
local max = tonumber(ARGV[5])
if ARGV[2] == 'clean' then
  if state[2] then limit = limit + 1 / limit else limit = limit + 1 end
  limit = math.min(limit, max)
elseif ARGV[2] == 'congested' then
  if now - (tonumber(state[3]) or 0) >= tonumber(ARGV[6]) then
    limit = math.max(1, math.min(limit, max) / 2)
    redis.call('HSET', KEYS[2], 'decreased_at', now, 'congested', 1)
  end
  local pause = tonumber(ARGV[3])
  if pause > 0 and now + pause > (tonumber(state[4]) or 0) then
    redis.call('HSET', KEYS[2], 'paused_until', now + pause)
  end
end
redis.call('HSET', KEYS[2], 'limit', tostring(limit))
redis.call('PEXPIRE', KEYS[2], 86400000)
return tostring(limit)`;

// KEYS: leases zset. ARGV: ttl, lease ids held by this worker.
const RENEW = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i]) end
return 1`;

/**
 * The concurrency an upstream accepts, shared by every worker through Redis (AIMD): the limit grows
 * while answers are clean and halves on 429, 503 and timeouts; a retry-after pauses all workers.
 * Slots are leases with a TTL that live workers renew, so a killed worker's slots come back.
 * While Redis is unreachable no slot is granted: requests wait, none fail.
 */
@Injectable()
export class UpstreamLimiter implements OnModuleDestroy {
  private readonly logger = new Logger(UpstreamLimiter.name);
  private readonly redis: Redis;
  private readonly held = new Map<string, UpstreamLease>();
  private readonly renewer: NodeJS.Timeout;

  constructor(env: WorkerEnvironment) {
    // Auto-pipelining sends the slot calls of one event-loop turn in one write: thousands per second otherwise cost a syscall each.
    this.redis = new Redis({ ...redisOptionsFromUrl(env.REDIS_URL), maxRetriesPerRequest: null, enableAutoPipelining: true });
    this.redis.on('error', (error: Error) => this.logger.warn(`Redis (upstream limits): ${error.message}`));
    this.redis.defineCommand('acquireSlot', { numberOfKeys: 2, lua: ACQUIRE });
    this.redis.defineCommand('releaseSlot', { numberOfKeys: 2, lua: RELEASE });
    this.redis.defineCommand('renewSlots', { numberOfKeys: 1, lua: RENEW });
    this.renewer = setInterval(() => void this.renew(), LEASE_TTL_MS / 3);
  }

  /** Waits for a slot of `upstream`; resolves null if `stop` fires first. */
  async acquire(upstream: Upstream, stop: AbortSignal): Promise<UpstreamLease | null> {
    const key = keyOf(upstream);
    const lease = { key, id: randomBase62(12) };
    for (let wait = POLL_MIN_MS; !stop.aborted; wait = Math.min(POLL_MAX_MS, wait * 2)) {
      const call = this.call<number>('acquireSlot', [
        `${key}:leases`,
        `${key}:state`,
        lease.id,
        LEASE_TTL_MS,
        upstream.maxConcurrency ?? DEFAULT_START,
        upstream.maxConcurrency ?? UNBOUNDED,
      ]);
      const granted = await unlessStopped(call, stop, 0);
      if (granted === 1 && !stop.aborted) {
        this.held.set(lease.id, lease);
        return lease;
      }
      await sleep(granted < 0 ? -granted : wait, undefined, { signal: stop }).catch(() => undefined);
    }
    return null;
  }

  /** Gives the slot back and tells the shared limit what the answer said. Never throws: an unreleased lease expires. */
  async release(upstream: Upstream, lease: UpstreamLease, congestion: Congestion, retryAfterMs: number | null): Promise<void> {
    this.held.delete(lease.id);
    await this.call('releaseSlot', [
      `${lease.key}:leases`,
      `${lease.key}:state`,
      lease.id,
      congestion,
      retryAfterMs ?? 0,
      upstream.maxConcurrency ?? DEFAULT_START,
      upstream.maxConcurrency ?? UNBOUNDED,
      DECREASE_GAP_MS,
    ]).catch((error: Error) => this.logger.warn(`Could not release an upstream slot: ${error.message}`));
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.renewer);
    this.redis.disconnect();
  }

  private async renew(): Promise<void> {
    const byKey = new Map<string, string[]>();
    for (const lease of this.held.values()) {
      byKey.set(lease.key, [...(byKey.get(lease.key) ?? []), lease.id]);
    }
    for (const [key, ids] of byKey) {
      await this.call('renewSlots', [`${key}:leases`, LEASE_TTL_MS, ...ids]).catch(() => undefined);
    }
  }

  private call<T>(command: 'acquireSlot' | 'releaseSlot' | 'renewSlots', args: (string | number)[]): Promise<T> {
    return (this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<T>>)[command](...args);
  }
}

/** Settles with the call's answer, or with `fallback` as soon as `stop` fires (a late grant simply expires). */
function unlessStopped<T>(call: Promise<T>, stop: AbortSignal, fallback: T): Promise<T> {
  if (stop.aborted) {
    return Promise.resolve(fallback);
  }
  return new Promise((resolve) => {
    const onStop = () => resolve(fallback);
    stop.addEventListener('abort', onStop, { once: true });
    call.then(
      (value) => resolve(value),
      () => resolve(fallback),
    ).finally(() => stop.removeEventListener('abort', onStop));
  });
}

/** One limit per upstream base URL, whichever routes share it. */
const keyOf = (upstream: Upstream): string =>
  `${QUEUE_PREFIX}:upstream:${createHash('sha256').update(upstream.baseUrl).digest('hex').slice(0, 16)}`;
