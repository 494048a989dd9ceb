import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ApiEnvironment } from '../config/api-environment';
import { ApiRedis } from '../redis/api-redis';
import type { RequestWorkspace } from './request-workspace';
import { RevocationChannel } from './revocation-channel';

/** What a valid key stands for. */
export interface ResolvedKey {
  keyId: string;
  workspace: RequestWorkspace;
}

/** Enough for every live key of a large deployment; past it the oldest entry makes room. */
const MAX_ENTRIES = 10_000;

/**
 * Keys looked up recently, by hash, for API_KEY_CACHE_SECONDS: most requests then pay no query for their key.
 * A revoke announces the key's id on the revocation channel and every replica drops it at once. The cache is
 * trusted only while the channel is (its pings come back): otherwise every lookup reads PostgreSQL, and when
 * trust returns the cache starts empty (a revocation published meanwhile may have been missed).
 */
@Injectable()
export class ApiKeyCache implements OnModuleInit, OnModuleDestroy {
  private readonly ttlMs: number;
  private readonly entries = new Map<string, { key: ResolvedKey; expiresAt: number }>();
  private readonly channel: RevocationChannel;
  /** Bumped by every revocation and every return of trust: a lookup that straddles one is not kept. */
  private generation = 0;

  constructor(redis: ApiRedis, env: ApiEnvironment) {
    this.ttlMs = env.API_KEY_CACHE_SECONDS * 1000;
    this.channel = new RevocationChannel(redis, {
      revoked: (keyId) => this.evict(keyId),
      trusted: () => {
        this.entries.clear();
        this.generation++;
      },
    });
  }

  onModuleInit(): void {
    if (this.ttlMs > 0) {
      this.channel.listen();
    }
  }

  onModuleDestroy(): void {
    this.channel.close();
  }

  /**
   * The cached key, if any. The event loop first ends its round of I/O: a revocation published before this request
   * was sent is in the subscriber's socket by then, and is applied before a cached key is trusted.
   */
  async get(keyHash: string): Promise<ResolvedKey | undefined> {
    await new Promise((resolve) => setImmediate(resolve));
    const entry = this.channel.trusted ? this.entries.get(keyHash) : undefined;
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
    if (!this.channel.trusted || ticket !== this.generation) {
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

  /**
   * After the revocation is committed: this process drops the key now, the other replicas when the announcement
   * lands. False when not every replica could be shown to have dropped it (or to distrust its cache) in time.
   */
  announceRevocation(keyId: string): Promise<boolean> {
    this.evict(keyId);
    return this.channel.announce(keyId);
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
