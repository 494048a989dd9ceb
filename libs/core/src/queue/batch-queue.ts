import { Job, type Queue } from 'bullmq';
import type { ProviderBatchRepository } from '../batches/provider-batch.repository';
import { BATCH_JOB_OPTIONS, type JobOf, JobName, runBatchJobId } from './jobs';

/** The one way a batch enters the queue (api on create, the worker's requeue-orphan-batches sweep on re-drive): one job per batch id. */
export async function enqueueBatch(
  batches: Queue<JobOf<JobName.RunBatch>>,
  batch: { id: string; workspaceId: string },
): Promise<void> {
  await batches.add(
    JobName.RunBatch,
    { batchId: batch.id, workspaceId: batch.workspaceId } satisfies JobOf<JobName.RunBatch>,
    {
      ...BATCH_JOB_OPTIONS,
      jobId: runBatchJobId(batch.id),
    },
  );
}

/**
 * Removes a batch's chunk jobs that are still waiting (running ones are left to notice the cancel
 * or expiry themselves), so the batch can wind down without waiting for its turn in the queue.
 * BullMQ moves the batch job on to finalize once no chunk is pending. A batch on a provider's Batch API
 * keeps its shard jobs: one waiting between polls must still cancel its provider batch and copy what it ran.
 */
export async function dropPendingChunks(
  batches: Queue,
  batchId: string,
  providerBatches: ProviderBatchRepository,
): Promise<void> {
  if (await providerBatches.hasStages(batchId)) {
    return;
  }
  const job = await Job.fromId(batches, runBatchJobId(batchId));
  await job?.removeUnprocessedChildren();
}
