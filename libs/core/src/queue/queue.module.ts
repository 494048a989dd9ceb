import { BullModule } from '@nestjs/bullmq';
import { type DynamicModule, Module } from '@nestjs/common';
import { CoreEnvironment } from '../config/env';
import { redisOptionsFromUrl } from '../config/redis-url';
import type { ConnectionOptions } from 'bullmq';
import { QUEUE_PREFIX, QueueName } from './jobs';

/** Workers wait for Redis to come back, as BullMQ requires of them. */
export const workerConnection = (redisUrl: string): ConnectionOptions => ({
  ...redisOptionsFromUrl(redisUrl),
  maxRetriesPerRequest: null,
});

export type QueueRole = 'producer' | 'worker';

@Module({})
export class QueueModule {
  /** One module (one set of queues and Redis connections) per role, however many features import it. */
  private static readonly modules = new Map<QueueRole, DynamicModule>();

  /**
   * Producers fail fast when Redis is away (the api answers 503 rather than hang);
   * workers wait for Redis to come back, as BullMQ requires.
   */
  static forRoot(role: QueueRole): DynamicModule {
    const known = QueueModule.modules.get(role);
    if (known) {
      return known;
    }
    const module: DynamicModule = {
      module: QueueModule,
      imports: [
        BullModule.forRootAsync({
          inject: [CoreEnvironment],
          useFactory: (env: CoreEnvironment) => ({
            prefix: QUEUE_PREFIX,
            connection:
              role === 'producer'
                ? {
                    ...redisOptionsFromUrl(env.REDIS_URL),
                    enableOfflineQueue: false,
                    maxRetriesPerRequest: 1,
                    connectTimeout: 2000,
                  }
                : workerConnection(env.REDIS_URL),
          }),
        }),
        BullModule.registerQueue(
          { name: QueueName.Batches },
          { name: QueueName.BatchChunks },
          { name: QueueName.WebhookDeliveries },
          { name: QueueName.ProviderBatches },
          { name: QueueName.Maintenance },
        ),
      ],
      exports: [BullModule],
    };
    QueueModule.modules.set(role, module);
    return module;
  }
}
