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
  /** One job per run of a housekeeping sweep, each produced by that sweep's job scheduler: one run per tick, fleet-wide. */
  Maintenance = 'maintenance',
}

export enum JobName {
  RunBatch = 'batch.run',
  RunChunk = 'batch.chunk',
  DeliverWebhook = 'webhook.deliver',
  RunShard = 'batch.shard',
  RequeueOrphanBatches = 'sweep.requeue-orphan-batches',
  WindDownExpiredBatches = 'sweep.wind-down-expired-batches',
  RequeueOwedWebhooks = 'sweep.requeue-owed-webhooks',
  PurgeFinishedJournals = 'sweep.purge-finished-journals',
  PurgeExpiredFiles = 'sweep.purge-expired-files',
  ExpireUploads = 'sweep.expire-uploads',
  ReleaseFinishedUploads = 'sweep.release-finished-uploads',
  PurgeExpiredIdempotencyKeys = 'sweep.purge-expired-idempotency-keys',
  RemoveAbandonedWrites = 'sweep.remove-abandoned-writes',
  DiscardProviderFiles = 'sweep.discard-provider-files',
}

/** The housekeeping sweeps of the maintenance queue: each name is its job's, its job scheduler's and its metric label. */
export const SWEEPS = [
  JobName.RequeueOrphanBatches,
  JobName.WindDownExpiredBatches,
  JobName.RequeueOwedWebhooks,
  JobName.PurgeFinishedJournals,
  JobName.PurgeExpiredFiles,
  JobName.ExpireUploads,
  JobName.ReleaseFinishedUploads,
  JobName.PurgeExpiredIdempotencyKeys,
  JobName.RemoveAbandonedWrites,
  JobName.DiscardProviderFiles,
] as const;

export type SweepName = (typeof SWEEPS)[number];

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
  [JobName.RequeueOrphanBatches]: Record<string, never>;
  [JobName.WindDownExpiredBatches]: Record<string, never>;
  [JobName.RequeueOwedWebhooks]: Record<string, never>;
  [JobName.PurgeFinishedJournals]: Record<string, never>;
  [JobName.PurgeExpiredFiles]: Record<string, never>;
  [JobName.ExpireUploads]: Record<string, never>;
  [JobName.ReleaseFinishedUploads]: Record<string, never>;
  [JobName.PurgeExpiredIdempotencyKeys]: Record<string, never>;
  [JobName.RemoveAbandonedWrites]: Record<string, never>;
  [JobName.DiscardProviderFiles]: Record<string, never>;
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

/**
 * Sweep jobs: a failed run is not retried, the sweep's scheduler runs it again at its next tick. The last runs are
 * kept, with why any failed, by count: at one run per sweep per tick, their age follows BATCH_SWEEP_INTERVAL_MS.
 */
export const SWEEP_JOB_OPTIONS = {
  attempts: 1,
  removeOnComplete: { count: 1000 },
  removeOnFail: { count: 1000 },
} as const;
