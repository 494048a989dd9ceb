/** Queue and job names are stored with live jobs in Redis: never rename a value. */
export enum QueueName {
  /** One job per batch: validate the input, fan out chunk jobs, then finalize. */
  Batches = 'batches',
  /** One job per chunk of input lines: send them upstream and checkpoint each answer. */
  BatchChunks = 'batch-chunks',
}

export enum JobName {
  RunBatch = 'batch.run',
  RunChunk = 'batch.chunk',
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
}

export type JobOf<N extends JobName> = JobPayloads[N];

/** Deterministic ids: enqueueing the same batch or chunk twice yields one job. */
export const runBatchJobId = (batchId: string): string => batchId;
export const runChunkJobId = (batchId: string, index: number): string => `${batchId}-chunk-${index}`;

export const QUEUE_PREFIX = 'venna';

/** Retry policy of batch and chunk jobs: infrastructure hiccups (DB, Redis, disk) are retried, then the batch fails. */
export const BATCH_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 24 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const;
