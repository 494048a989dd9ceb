import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { QUEUE_PREFIX } from '@app/core';
import { ApiEnvironment } from '../config/api-environment';
import { ApiRedis } from '../redis/api-redis';
import type { RequestWorkspace } from './request-workspace';

/** What a valid key stands for. */
export interface ResolvedKey {
  keyId: string;
  workspace: RequestWorkspace;
}

/** Every api replica listens here; a revoke publishes the key's id. */
const REVOCATIONS = `${QUEUE_PREFIX}:api-keys:revoked`;
/** Enough for every live key of a large deployment; past it the oldest entry makes room. */
const MAX_ENTRIES = 10_000;

/**
 * Keys looked up recently, by hash, for API_KEY_CACHE_SECONDS: most requests then pay no query for their key.
 * A revoke publishes the key's id on Redis and every replica drops it at once. The cache is trusted only while
 * this process is subscribed: when the subscription drops, the cache is emptied and bypassed until it is back
 * (a revocation published meanwhile is never missed), so a revoked key is never honoured beyond the TTL.
 */
@Injectable()
export class ApiKeyCache implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ApiKeyCache.name);
  private readonly ttlMs: number;
  private readonly entries = new Map<string, { key: ResolvedKey; expiresAt: number }>();
  private listening = false;
  /** Bumped when the subscription is lost: a subscribe that completes after that is stale. */
  private disconnections = 0;
  /** Bumped by every revocation and every change of the channel: a lookup that straddles one is not kept. */
  private generation = 0;

  constructor(
    private readonly redis: ApiRedis,
    env: ApiEnvironment,
  ) {
    this.ttlMs = env.API_KEY_CACHE_SECONDS * 1000;
  }

  onModuleInit(): void {
    if (this.ttlMs === 0) {
      return;
    }
    const subscriber = this.redis.subscriber('key revocations');
    subscriber.on('ready', () => this.listen(subscriber));
    subscriber.on('close', () => this.deafen());
    subscriber.on('message', (_channel: string, keyId: string) => this.evict(keyId));
  }

  onModuleDestroy(): void {
    this.deafen();
  }

  /**
   * The cached key, if any. The event loop first ends its round of I/O: a revocation published before this request
   * was sent is in the subscriber's socket by then, and is applied before a cached key is trusted.
   */
  async get(keyHash: string): Promise<ResolvedKey | undefined> {
    await new Promise((resolve) => setImmediate(resolve));
    const entry = this.listening ? this.entries.get(keyHash) : undefined;
    if (entry && entry.expiresAt > Date.now()) {
      return entry.key;
    }
    return undefined;
  }

  /** Taken before a lookup and given back to `put`: a revocation in between keeps the answer out of the cache. */
  ticket(): number {
    return this.generation;
  }

  put(keyHash: string, key: ResolvedKey, ticket: number): void {
    if (!this.listening || ticket !== this.generation) {
      return;
    }
    if (this.entries.size >= MAX_ENTRIES) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) {
        this.entries.delete(oldest.value);
      }
    }
    this.entries.set(keyHash, { key, expiresAt: Date.now() + this.ttlMs });
  }

  /** After the revocation is committed: this process drops the key now, the other replicas when the message lands. */
  async announceRevocation(keyId: string): Promise<void> {
    this.evict(keyId);
    try {
      await this.redis.commands.publish(REVOCATIONS, keyId);
    } catch (error) {
      this.logger.warn(
        `Could not announce the revocation of key ${keyId} to other api replicas (${(error as Error).message}); they drop it within their API_KEY_CACHE_SECONDS`,
      );
    }
  }

  private listen(subscriber: Redis): void {
    const disconnections = this.disconnections;
    subscriber.subscribe(REVOCATIONS).then(
      () => {
        // Still the same connection (no close in between): from now on no revocation is missed.
        if (disconnections === this.disconnections && subscriber.status === 'ready') {
          this.entries.clear();
          this.generation++; // a lookup begun before this point may have missed a revocation
          this.listening = true;
        }
      },
      (error: Error) => this.logger.warn(`Could not subscribe to key revocations: ${error.message}`),
    );
  }

  private deafen(): void {
    this.listening = false;
    this.disconnections++;
    this.generation++;
    this.entries.clear();
  }

  private evict(keyId: string): void {
    this.generation++;
    for (const [hash, entry] of this.entries) {
      if (entry.key.keyId === keyId) {
        this.entries.delete(hash);
      }
    }
  }
}
