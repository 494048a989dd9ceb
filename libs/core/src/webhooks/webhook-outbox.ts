import {
  ArrayContains,
  type DataSource,
  type EntityManager,
  type EntitySubscriberInterface,
  type QueryRunner,
} from 'typeorm';
import { TIMESTAMP_OF, type TerminalStatus } from '../batches/batch-status';
import { BatchEntity } from '../batches/batch.entity';
import { newWebhookDeliveryId, newWebhookEventId } from '../ids/ids';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import { WEBHOOK_EVENT_OF } from './webhook-event-type';
import { WebhookEventEntity } from './webhook-event.entity';
import { WebhookEntity } from './webhook.entity';

/** Where a transaction's query runner keeps the deliveries it wrote, until it commits. */
const WRITTEN_DELIVERIES = 'webhookDeliveryIds';

/**
 * The outbox: inside the transaction that moves batch `batchId` to `status` (see BatchTransitions), writes
 * its event and one delivery per webhook of the workspace subscribed to it, so the event exists exactly when
 * the status does. The ids are left on the transaction for whoever enqueues them once it commits; a delivery
 * that is never enqueued is found by the worker's requeue-owed-webhooks sweep.
 */
export async function recordWebhookEvent(
  manager: EntityManager,
  batchId: string,
  status: TerminalStatus,
): Promise<void> {
  const type = WEBHOOK_EVENT_OF[status];
  const batch = await manager.findOneByOrFail(BatchEntity, { id: batchId });
  const happenedAt = batch[TIMESTAMP_OF[status]];
  if (batch.status !== status || !happenedAt) {
    throw new Error(`Batch ${batchId} is ${batch.status}, not ${status}: no ${type} event to record`);
  }
  const webhooks = await manager.find(WebhookEntity, {
    select: { id: true },
    where: { workspaceId: batch.workspaceId, events: ArrayContains([type]) },
  });
  if (webhooks.length === 0) {
    return;
  }
  const event = {
    id: newWebhookEventId(),
    workspaceId: batch.workspaceId,
    batchId,
    type,
    createdAt: happenedAt,
  };
  await manager.insert(WebhookEventEntity, event);
  const deliveries = webhooks.map((webhook) => ({
    id: newWebhookDeliveryId(),
    workspaceId: batch.workspaceId,
    webhookId: webhook.id,
    eventId: event.id,
  }));
  await manager.insert(WebhookDeliveryEntity, deliveries);
  const runner = manager.queryRunner;
  if (runner) {
    runner.data[WRITTEN_DELIVERIES] = [...writtenBy(runner), ...deliveries.map((delivery) => delivery.id)];
  }
}

/**
 * Hands `relay` the deliveries each transaction of `dataSource` wrote once it has committed, never before: a job
 * never runs ahead of its row. A rolled-back transaction's deliveries are forgotten.
 */
export function relayCommittedDeliveries(dataSource: DataSource, relay: (deliveryIds: string[]) => void): void {
  const subscriber: EntitySubscriberInterface = {
    afterTransactionCommit(event) {
      if (event.queryRunner.isTransactionActive) {
        return; // a savepoint was released: the outer transaction may still roll back
      }
      const ids = takeWrittenDeliveries(event.queryRunner);
      if (ids.length > 0) {
        relay(ids);
      }
    },
    afterTransactionRollback(event) {
      if (!event.queryRunner.isTransactionActive) {
        takeWrittenDeliveries(event.queryRunner);
      }
    },
  };
  dataSource.subscribers.push(subscriber);
}

/** The deliveries a transaction wrote, handed over once (after its commit) and forgotten. */
function takeWrittenDeliveries(runner: QueryRunner): string[] {
  const ids = writtenBy(runner);
  delete runner.data[WRITTEN_DELIVERIES];
  return ids;
}

function writtenBy(runner: QueryRunner): string[] {
  return (runner.data[WRITTEN_DELIVERIES] as string[] | undefined) ?? [];
}
