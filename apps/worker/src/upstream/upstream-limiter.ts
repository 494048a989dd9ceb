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
  id: string;
  /** Requests sent under it so far: a lease goes back to Redis after MAX_USES, so other workers get their turn. */
  uses: number;
}

/** A lease not renewed for this long (its worker died) is given back. */
const LEASE_TTL_MS = 15_000;
/** At most one halving per this long: a burst of 429s from one window is one signal, not many. */
const DECREASE_GAP_MS = 100;
/** Without a configured max_concurrency, an upstream is probed up to this many requests at once. */
const UNBOUNDED = 10_000;
/** The limit an upstream starts at when none is configured; slow start grows it quickly while answers are clean. */
const DEFAULT_START = 32;
/** A finished request's lease serves the next request of this worker this many times before it goes back. */
const MAX_USES = 16;
/** How often answers are reported to the shared limit, and idle leases given back. */
const TICK_MS = 50;
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

// KEYS: leases zset, state hash. ARGV: clean answers, congested answers, retry-after ms, start limit, max limit,
// decrease gap, ttl, lease ids held by this worker (renewed). Additive increase (slow start until the first
// congestion), multiplicative decrease, retry-after pauses everyone. Returns limit, leases held in all, pause left.
const REPORT = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
for i = 8, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[7]), ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local state = redis.call('HMGET', KEYS[2], 'limit', 'congested', 'decreased_at', 'paused_until')
local limit = tonumber(state[1]) or tonumber(ARGV[4])
local max = tonumber(ARGV[5])
local clean = tonumber(ARGV[1])
local paused = tonumber(state[4]) or 0
if tonumber(ARGV[2]) > 0 then
  if now - (tonumber(state[3]) or 0) >= tonumber(ARGV[6]) then
    limit = math.max(1, math.min(limit, max) / 2)
    redis.call('HSET', KEYS[2], 'decreased_at', now, 'congested', 1)
  end
  local pause = tonumber(ARGV[3])
  if pause > 0 and now + pause > paused then
    paused = now + pause
    redis.call('HSET', KEYS[2], 'paused_until', paused)
  end
elseif clean > 0 then
  if state[2] then limit = limit + clean / limit else limit = limit + clean end
  limit = math.min(limit, max)
end
redis.call('HSET', KEYS[2], 'limit', tostring(limit))
redis.call('PEXPIRE', KEYS[2], 86400000)
return { tostring(limit), redis.call('ZCARD', KEYS[1]), math.max(0, paused - now) }`;

/** This worker's side of one upstream's shared limit. */
class UpstreamSlots {
  /** Leases this worker holds between two requests, ready for the next one. */
  idle: UpstreamLease[] = [];
  inUse = new Set<UpstreamLease>();
  clean = 0;
  congested = 0;
  retryAfterMs = 0;
  pausedUntil = 0;
  /** Leases to give back as requests finish: the shared limit went below what all workers hold. */
  excess = 0;

  constructor(
    readonly key: string,
    readonly upstream: Upstream,
  ) {}

  get startLimit(): number {
    return this.upstream.maxConcurrency ?? DEFAULT_START;
  }

  get maxLimit(): number {
    return this.upstream.maxConcurrency ?? UNBOUNDED;
  }

  get idleOrBusy(): boolean {
    return this.idle.length > 0 || this.inUse.size > 0 || this.clean + this.congested > 0;
  }
}

/**
 * The concurrency an upstream accepts, shared by every worker through Redis (AIMD): the limit grows
 * while answers are clean and halves on 429, 503 and timeouts; a retry-after pauses all workers.
 * Slots are leases with a TTL that live workers renew, so a killed worker's slots come back.
 * A worker reuses a finished request's lease for its next request (up to MAX_USES times) and reports
 * answers every TICK_MS, so Redis sees a few calls per second, not two per request.
 * While Redis is unreachable no new slot is granted: requests wait, none fail.
 */
@Injectable()
export class UpstreamLimiter implements OnModuleDestroy {
  private readonly logger = new Logger(UpstreamLimiter.name);
  private readonly redis: Redis;
  /** By base URL: one limit per upstream, whichever routes share it. */
  private readonly upstreams = new Map<string, UpstreamSlots>();
  private readonly ticker: NodeJS.Timeout;
  private reporting = false;

  constructor(env: WorkerEnvironment) {
    this.redis = new Redis({
      ...redisOptionsFromUrl(env.REDIS_URL),
      maxRetriesPerRequest: null,
      enableAutoPipelining: true,
    });
    this.redis.on('error', (error: Error) => this.logger.warn(`Redis (upstream limits): ${error.message}`));
    this.redis.defineCommand('acquireSlot', { numberOfKeys: 2, lua: ACQUIRE });
    this.redis.defineCommand('reportSlots', { numberOfKeys: 2, lua: REPORT });
    this.ticker = setInterval(() => {
      this.tick().catch(() => undefined);
    }, TICK_MS);
  }

  /** Waits for a slot of `upstream`; resolves null if `stop` fires first. */
  async acquire(upstream: Upstream, stop: AbortSignal): Promise<UpstreamLease | null> {
    const slots = this.slotsOf(upstream);
    for (let wait = POLL_MIN_MS; !stop.aborted; wait = Math.min(POLL_MAX_MS, wait * 2)) {
      const pause = slots.pausedUntil - Date.now();
      if (pause > 0) {
        await sleep(pause, undefined, { signal: stop }).catch(() => undefined);
        continue;
      }
      const reused = slots.idle.pop();
      if (reused) {
        reused.uses++;
        slots.inUse.add(reused);
        return reused;
      }
      const lease = { id: randomBase62(12), uses: 1 };
      const granted = await unlessStopped(
        this.call<number>('acquireSlot', [
          `${slots.key}:leases`,
          `${slots.key}:state`,
          lease.id,
          LEASE_TTL_MS,
          slots.startLimit,
          slots.maxLimit,
        ]),
        stop,
        0,
      );
      if (granted === 1 && !stop.aborted) {
        slots.inUse.add(lease);
        return lease;
      }
      if (granted < 0) {
        slots.pausedUntil = Date.now() - granted;
      } else {
        await sleep(wait, undefined, { signal: stop }).catch(() => undefined);
      }
    }
    return null;
  }

  /** Ends the lease's request and notes what the answer said. Never throws: an unreleased lease expires. */
  release(upstream: Upstream, lease: UpstreamLease, congestion: Congestion, retryAfterMs: number | null): void {
    const slots = this.slotsOf(upstream);
    slots.inUse.delete(lease);
    if (congestion === 'clean') {
      slots.clean++;
    } else if (congestion === 'congested') {
      slots.congested++;
      slots.retryAfterMs = Math.max(slots.retryAfterMs, retryAfterMs ?? 0);
    }
    if (congestion === 'congested' || slots.excess > 0 || lease.uses >= MAX_USES) {
      slots.excess = Math.max(0, slots.excess - 1);
      this.giveBack(slots, [lease]);
    } else {
      slots.idle.push(lease);
    }
    if (congestion === 'congested') {
      // Congestion is news every worker should act on now, not at the next tick.
      this.tick().catch(() => undefined);
    }
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.ticker);
    for (const slots of this.upstreams.values()) {
      this.giveBack(slots, slots.idle.splice(0));
    }
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** Reports answers, renews held leases, learns the shared limit, and gives back what is idle or too much. */
  private async tick(): Promise<void> {
    if (this.reporting) {
      return;
    }
    this.reporting = true;
    try {
      for (const slots of this.upstreams.values()) {
        if (slots.idleOrBusy) {
          await this.report(slots);
        }
      }
    } finally {
      this.reporting = false;
    }
  }

  private async report(slots: UpstreamSlots): Promise<void> {
    const { clean, congested, retryAfterMs } = slots;
    slots.clean = 0;
    slots.congested = 0;
    slots.retryAfterMs = 0;
    // Idle since the last tick: nobody here needs it now, another worker may.
    this.giveBack(slots, slots.idle.splice(0));
    const held = [...slots.inUse].map((lease) => lease.id);
    try {
      const [limit, count, pausedMs] = await this.call<[string, number, number]>('reportSlots', [
        `${slots.key}:leases`,
        `${slots.key}:state`,
        clean,
        congested,
        retryAfterMs,
        slots.startLimit,
        slots.maxLimit,
        DECREASE_GAP_MS,
        LEASE_TTL_MS,
        ...held,
      ]);
      slots.pausedUntil = Math.max(slots.pausedUntil, Date.now() + pausedMs);
      slots.excess = Math.max(0, Math.min(count - Math.floor(Number(limit)), slots.inUse.size));
    } catch (error) {
      // Answers not reported are lost to the limit's tuning only; the leases expire if Redis stays away.
      this.logger.warn(`Could not report to the upstream limit: ${(error as Error).message}`);
    }
  }

  private giveBack(slots: UpstreamSlots, leases: UpstreamLease[]): void {
    if (leases.length > 0) {
      this.redis.zrem(`${slots.key}:leases`, ...leases.map((lease) => lease.id)).catch(() => undefined);
    }
  }

  private slotsOf(upstream: Upstream): UpstreamSlots {
    let slots = this.upstreams.get(upstream.baseUrl);
    if (!slots) {
      slots = new UpstreamSlots(keyOf(upstream), upstream);
      this.upstreams.set(upstream.baseUrl, slots);
    }
    return slots;
  }

  private call<T>(command: 'acquireSlot' | 'reportSlots', args: (string | number)[]): Promise<T> {
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
    call
      .then(
        (value) => resolve(value),
        () => resolve(fallback),
      )
      .finally(() => stop.removeEventListener('abort', onStop));
  });
}

const keyOf = (upstream: Upstream): string =>
  `${QUEUE_PREFIX}:upstream:${createHash('sha256').update(upstream.baseUrl).digest('hex').slice(0, 16)}`;
