/** Queue and job names are stored with live jobs in Redis: never rename a value. */
export enum QueueName {
  /** One job per batch: validate the input, fan out chunk jobs, then finalize. */
  Batches = 'batches',
  /** One job per chunk of input lines: send them upstream and checkpoint each answer. */
  BatchChunks = 'batch-chunks',
  /** One job per webhook delivery: POST the event, retried with backoff over hours. */
  WebhookDeliveries = 'webhook-deliveries',
  /** One job per shard of a batch sent to a provider's own Batch API: submit, poll, copy the results back. */
  ProviderBatches = 'provider-batches',
}

export enum JobName {
  RunBatch = 'batch.run',
  RunChunk = 'batch.chunk',
  DeliverWebhook = 'webhook.deliver',
  RunShard = 'batch.shard',
}

/** A contiguous run of input lines, located by byte range so a worker reads only its part. */
export interface ChunkRange {
  index: number;
  firstLine: number;
  lastLine: number;
  /** Requests in the range (blank lines are not requests). */
  lineCount: number;
  startByte: number;
  endByte: number;
}

/** The workspace id rides along so every log line about the job carries it without a query (absent on jobs queued before it did). */
export interface JobPayloads {
  [JobName.RunBatch]: { batchId: string; workspaceId: string };
  [JobName.RunChunk]: { batchId: string; workspaceId: string; chunk: ChunkRange };
  [JobName.DeliverWebhook]: { deliveryId: string };
  [JobName.RunShard]: { batchId: string; workspaceId: string; shard: ChunkRange };
}

export type JobOf<N extends JobName> = JobPayloads[N];

/** Deterministic ids: enqueueing the same batch or chunk twice yields one job. */
export const runBatchJobId = (batchId: string): string => batchId;
export const runChunkJobId = (batchId: string, index: number): string => `${batchId}-chunk-${index}`;
export const runShardJobId = (batchId: string, index: number): string => `${batchId}-shard-${index}`;
export const deliverWebhookJobId = (deliveryId: string): string => deliveryId;

export const QUEUE_PREFIX = 'venna';

/** Retry policy of batch and chunk jobs: infrastructure hiccups (DB, Redis, disk) are retried, then the batch fails. */
export const BATCH_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 24 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const;

/** The backoff strategy the worker registers for webhook deliveries (see apps/worker/src/webhooks). */
export const WEBHOOK_BACKOFF = 'webhook';

/**
 * Webhook delivery jobs: WEBHOOK_MAX_ATTEMPTS attempts, spaced by the worker's WEBHOOK_BACKOFF strategy
 * (exponential, capped: hours in all). The delivery row records every attempt; the job is only the timer.
 */
export const WEBHOOK_MAX_ATTEMPTS = 12;
export const WEBHOOK_JOB_OPTIONS = {
  attempts: WEBHOOK_MAX_ATTEMPTS,
  backoff: { type: WEBHOOK_BACKOFF },
  removeOnComplete: { age: 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const;
