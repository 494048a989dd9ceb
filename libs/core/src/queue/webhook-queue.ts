import type { Queue } from 'bullmq';
import { deliverWebhookJobId, type JobOf, JobName, WEBHOOK_JOB_OPTIONS } from './jobs';

/**
 * The one way a delivery enters the queue (after the commit that wrote it, on replay, and from the requeue-owed-webhooks sweep):
 * the job id is the delivery id, so enqueueing it again while its job exists adds nothing.
 */
export async function enqueueWebhookDeliveries(
  queue: Queue<JobOf<JobName.DeliverWebhook>>,
  deliveryIds: string[],
): Promise<void> {
  await queue.addBulk(
    deliveryIds.map((deliveryId) => ({
      name: JobName.DeliverWebhook,
      data: { deliveryId } satisfies JobOf<JobName.DeliverWebhook>,
      opts: { ...WEBHOOK_JOB_OPTIONS, jobId: deliverWebhookJobId(deliveryId) },
    })),
  );
}
