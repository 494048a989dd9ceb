import { Processor } from '@nestjs/bullmq';
import type { WorkerOptions } from 'bullmq';
import { QueueName } from '@app/core';
import type { WorkerEnvironment } from '../config/worker-environment';
import { WebhookDeliveryProcessor } from '../webhooks/webhook-delivery.processor';
import { webhookRetryDelayMs } from '../webhooks/webhook-retry';
import { BatchProcessor } from './batch.processor';
import { ChunkProcessor } from './chunk.processor';
import { ShardProcessor } from './native/shard.processor';

/** Batches whose validation or finalizing runs at once in one process (light work next to chunks). */
const BATCH_JOBS_PER_WORKER = 2;

/** Provider batch turns (a poll, a submit, a copy of results) one process takes at once: each mostly waits on the provider. */
const SHARD_TURNS_PER_WORKER = 4;

/** Webhook deliveries in flight at once in one process: each mostly waits on its receiver. */
const WEBHOOK_DELIVERIES_PER_WORKER = 16;

/**
 * Gives the processors their worker options from the validated environment. @Processor options are
 * static metadata read when the queue workers are created, so the decorator is applied again here,
 * with the options, before the application starts.
 */
export function configureProcessors(env: WorkerEnvironment): void {
  const common: Partial<WorkerOptions> = {
    lockDuration: env.WORKER_LOCK_DURATION_MS,
    stalledInterval: Math.max(1000, Math.floor(env.WORKER_LOCK_DURATION_MS / 2)),
    // A chunk whose worker died is handed on, not failed: its answered lines are never sent again.
    maxStalledCount: 10,
  };
  Processor(QueueName.Batches, { ...common, concurrency: BATCH_JOBS_PER_WORKER })(BatchProcessor);
  Processor(QueueName.BatchChunks, { ...common, concurrency: env.WORKER_CHUNK_JOBS })(ChunkProcessor);
  Processor(QueueName.ProviderBatches, { ...common, concurrency: SHARD_TURNS_PER_WORKER })(ShardProcessor);
  Processor(QueueName.WebhookDeliveries, {
    ...common,
    concurrency: WEBHOOK_DELIVERIES_PER_WORKER,
    settings: { backoffStrategy: (attemptsMade) => webhookRetryDelayMs(attemptsMade, env.WEBHOOK_RETRY_BASE_MS) },
  })(WebhookDeliveryProcessor);
}
