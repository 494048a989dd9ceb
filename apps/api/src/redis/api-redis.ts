import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import Redis, { type RedisOptions } from 'ioredis';
import { redisOptionsFromUrl } from '@app/core';
import { ApiEnvironment } from '../config/api-environment';

/** The longest a request waits on Redis for one command before it goes on without it. */
const COMMAND_TIMEOUT_MS = 300;
/**
 * TCP keepalive of a subscriber, which otherwise only ever reads: a Redis that vanished without closing the
 * connection is noticed (and reconnected to) within seconds, not the system's default two hours.
 */
const SUBSCRIBER_KEEPALIVE_MS = 10_000;

/**
 * The api's own Redis connections, beside BullMQ's. `commands` never makes a request wait for Redis: while it is
 * unreachable a command fails at once (no offline queue, one attempt, a short timeout), and the caller decides
 * what that means. Subscribers, made with `subscriber()`, reconnect forever.
 */
@Injectable()
export class ApiRedis implements OnModuleDestroy {
  readonly commands: Redis;
  private readonly options: RedisOptions;
  private readonly connections: Redis[] = [];
  private readonly logger = new Logger(ApiRedis.name);

  constructor(env: ApiEnvironment) {
    this.options = redisOptionsFromUrl(env.REDIS_URL);
    this.commands = this.track(
      new Redis({
        ...this.options,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: COMMAND_TIMEOUT_MS,
        connectTimeout: 2000,
      }),
      'commands',
    );
  }

  /** A connection for SUBSCRIBE; the caller subscribes on every 'ready' (nothing is resubscribed for it). */
  subscriber(name: string): Redis {
    return this.track(
      new Redis({
        ...this.options,
        autoResubscribe: false,
        maxRetriesPerRequest: null,
        keepAlive: SUBSCRIBER_KEEPALIVE_MS,
      }),
      name,
    );
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.allSettled(this.connections.map((connection) => connection.quit()));
  }

  /** Logs when a connection is lost and when it is back, not every reconnect attempt in between. */
  private track(connection: Redis, name: string): Redis {
    let down = false;
    connection.on('error', (error: Error) => {
      if (!down) {
        down = true;
        this.logger.warn(`Redis (${name}) unreachable: ${error.message}`);
      }
    });
    connection.on('ready', () => {
      if (down) {
        down = false;
        this.logger.log(`Redis (${name}) reachable again`);
      }
    });
    this.connections.push(connection);
    return connection;
  }
}
