import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { performance } from 'node:perf_hooks';
import { QUEUE_PREFIX, randomBase62 } from '@app/core';
import type { ApiRedis } from '../redis/api-redis';

/** Every api replica listens here: revocations, and each replica's pings to itself. */
const CHANNEL = `${QUEUE_PREFIX}:api-keys:revoked`;
/** The replicas that may trust their key cache, each scored with when (Redis time, ms) that trust ends at the latest. */
const LISTENERS = `${QUEUE_PREFIX}:api-keys:listeners`;
/** The replicas that applied one revocation. */
const acknowledgements = (nonce: string) => `${QUEUE_PREFIX}:api-keys:acks:${nonce}`;

/** How often a listening replica sends itself a ping through the channel. */
const PING_INTERVAL_MS = 500;
/**
 * A ping that came back vouches for the subscription this long after it was sent: every revocation published before
 * it has arrived. With no ping back, the cache is distrusted within this bound.
 */
const TRUST_MS = 1500;
/** A replica's registration outlives the trust its ping can give, whatever the delay before Redis runs it. */
const REGISTRATION_MS = TRUST_MS + 500;
/** How long a revoke may take to publish and hear from every listener before it is reported unconfirmed. */
const ANNOUNCE_DEADLINE_MS = 3000;
const ANNOUNCE_POLL_MS = 20;
const ACKNOWLEDGEMENTS_TTL_MS = 60_000;

const REDIS_NOW_MS = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS: listeners. ARGV: replica, registration ms, channel, ping. Registered first: a ping that comes back always
// has a registration behind it that lasts longer than the trust it gives. Replicas gone for good are dropped.
const REGISTER_AND_PING = `${REDIS_NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], 'GT', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`;

// KEYS: listeners. ARGV: channel, revocation. Returns the replicas that may trust their cache: [replica, until, ...].
const PUBLISH_TO_LISTENERS = `${REDIS_NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PUBLISH', ARGV[1], ARGV[2])
return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')`;

// KEYS: acknowledgements. ARGV: replica, until, ... Returns how many neither applied it nor have stopped trusting.
const UNCONFIRMED = `${REDIS_NOW_MS}
local pending = 0
for i = 1, #ARGV, 2 do
  if tonumber(ARGV[i + 1]) > now and redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then pending = pending + 1 end
end
return pending`;

type ChannelRedis = Redis & {
  registerAndPing(
    listeners: string,
    replica: string,
    registrationMs: number,
    channel: string,
    ping: string,
  ): Promise<1>;
  publishToListeners(listeners: string, channel: string, revocation: string): Promise<string[]>;
  unconfirmed(acknowledgements: string, ...listeners: string[]): Promise<number>;
};

type Message = { revoked: string; nonce: string } | { ping: string; sentAt: number };

export interface RevocationListener {
  /** A key was revoked: drop it before the revocation is acknowledged. */
  revoked(keyId: string): void;
  /** The channel is trusted again after a time it was not: revocations may have been missed meanwhile. */
  trusted(): void;
}

/**
 * The api replicas' revocation channel on Redis. A listening replica registers itself and pings itself through the
 * channel; its cache is trusted only while its pings come back (a subscription that dies silently is noticed
 * within TRUST_MS). A revocation is confirmed once every registered replica has acknowledged it or its
 * registration has run out (it no longer trusts its cache), so a revoke that answers 2xx holds everywhere.
 */
export class RevocationChannel {
  private readonly logger = new Logger(RevocationChannel.name);
  private readonly redis: ChannelRedis;
  private readonly replica = randomBase62(16);
  private subscriber: Redis | undefined;
  private pinger: NodeJS.Timeout | undefined;
  /** When (performance.now()) the current subscription took effect; null while there is none. */
  private subscribedAt: number | null = null;
  /** Bumped when the subscription is lost: a subscribe that completes after that is stale. */
  private disconnections = 0;
  private trustedUntil = 0;

  constructor(
    private readonly connections: ApiRedis,
    private readonly listener: RevocationListener,
  ) {
    const commands = connections.commands;
    commands.defineCommand('registerAndPing', { numberOfKeys: 1, lua: REGISTER_AND_PING });
    commands.defineCommand('publishToListeners', { numberOfKeys: 1, lua: PUBLISH_TO_LISTENERS });
    commands.defineCommand('unconfirmed', { numberOfKeys: 1, lua: UNCONFIRMED });
    this.redis = commands as ChannelRedis;
  }

  /** Whether every revocation published up to now has reached this replica. */
  get trusted(): boolean {
    return this.subscribedAt !== null && performance.now() < this.trustedUntil;
  }

  listen(): void {
    const subscriber = this.connections.subscriber('key revocations');
    subscriber.on('ready', () => this.subscribe(subscriber));
    subscriber.on('close', () => this.deafen());
    subscriber.on('message', (_channel: string, message: string) => this.receive(message));
    this.subscriber = subscriber;
    this.pinger = setInterval(() => this.ping(), PING_INTERVAL_MS).unref();
  }

  close(): void {
    clearInterval(this.pinger);
    this.deafen();
  }

  /**
   * Publishes the revocation (retried) and waits for every registered replica to acknowledge it or stop trusting
   * its cache, within ANNOUNCE_DEADLINE_MS. False when that could not be confirmed.
   */
  async announce(keyId: string): Promise<boolean> {
    const nonce = randomBase62(16);
    const revocation = JSON.stringify({ revoked: keyId, nonce } satisfies Message);
    const deadline = performance.now() + ANNOUNCE_DEADLINE_MS;
    let listeners: string[] | undefined;
    let problem = 'some replica neither acknowledged it nor stopped trusting its cache';
    while (performance.now() < deadline) {
      try {
        listeners ??= await this.redis.publishToListeners(LISTENERS, CHANNEL, revocation);
        if ((await this.redis.unconfirmed(acknowledgements(nonce), ...listeners)) === 0) {
          return true;
        }
      } catch (error) {
        problem = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, ANNOUNCE_POLL_MS));
    }
    this.logger.warn(
      `The revocation of key ${keyId} is not confirmed by every api replica within ${ANNOUNCE_DEADLINE_MS} ms (${problem})`,
    );
    return false;
  }

  private subscribe(subscriber: Redis): void {
    const disconnections = this.disconnections;
    subscriber.subscribe(CHANNEL).then(
      () => {
        // Still the same connection (no close in between): from now on no revocation is missed.
        if (disconnections === this.disconnections && subscriber.status === 'ready') {
          this.subscribedAt = performance.now();
          this.ping();
        }
      },
      (error: Error) => this.logger.warn(`Could not subscribe to key revocations: ${error.message}`),
    );
  }

  private deafen(): void {
    this.subscribedAt = null;
    this.trustedUntil = 0;
    this.disconnections++;
  }

  private ping(): void {
    if (this.subscribedAt === null) {
      return;
    }
    const ping = JSON.stringify({ ping: this.replica, sentAt: performance.now() } satisfies Message);
    // A ping that fails is a ping that does not come back: the trust it would have given simply runs out.
    this.redis.registerAndPing(LISTENERS, this.replica, REGISTRATION_MS, CHANNEL, ping).catch(() => undefined);
  }

  private receive(text: string): void {
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      // A replica of the previous release announces the bare key id.
      this.listener.revoked(text);
      return;
    }
    if ('revoked' in message) {
      this.listener.revoked(message.revoked);
      this.acknowledge(message.nonce);
    } else if (message.ping === this.replica) {
      this.pong(message.sentAt);
    }
  }

  /**
   * One of this replica's pings came back, and with it every revocation published before it. A ping sent before
   * the current subscription took effect proves nothing about what was published before that.
   */
  private pong(sentAt: number): void {
    if (this.subscribedAt === null || sentAt < this.subscribedAt) {
      return;
    }
    const wasTrusted = this.trusted;
    this.trustedUntil = Math.max(this.trustedUntil, sentAt + TRUST_MS);
    if (!wasTrusted && this.trusted) {
      this.listener.trusted();
    }
  }

  private acknowledge(nonce: string): void {
    const key = acknowledgements(nonce);
    // Unacknowledged, the revoker waits until this replica's registration runs out: slower, never wrong.
    this.redis
      .multi()
      .sadd(key, this.replica)
      .pexpire(key, ACKNOWLEDGEMENTS_TTL_MS)
      .exec()
      .catch(() => undefined);
  }
}
