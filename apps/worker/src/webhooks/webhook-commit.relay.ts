import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Queue } from 'bullmq';
import type { DataSource, EntitySubscriberInterface, TransactionCommitEvent, TransactionRollbackEvent } from 'typeorm';
import { enqueueWebhookDeliveries, type JobName, type JobOf, QueueName, takeWrittenDeliveries } from '@app/core';

/**
 * Enqueues the deliveries a transaction wrote (see recordWebhookEvent) once it has committed, never
 * before: a job never runs ahead of its row. If the process dies in between, or Redis refuses, the
 * requeue-owed-webhooks sweep finds the owed delivery without a job and enqueues it.
 */
@Injectable()
export class WebhookCommitRelay implements EntitySubscriberInterface {
  private readonly logger = new Logger(WebhookCommitRelay.name);

  constructor(
    @InjectDataSource() dataSource: DataSource,
    @InjectQueue(QueueName.WebhookDeliveries) private readonly queue: Queue<JobOf<JobName.DeliverWebhook>>,
  ) {
    dataSource.subscribers.push(this);
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    if (event.queryRunner.isTransactionActive) {
      return; // a savepoint was released: the outer transaction may still roll back
    }
    const ids = takeWrittenDeliveries(event.queryRunner);
    if (ids.length === 0) {
      return;
    }
    // Not awaited: the commit has happened and must not wait on Redis (the requeue-owed-webhooks sweep covers a failure).
    enqueueWebhookDeliveries(this.queue, ids).catch((error: Error) =>
      this.logger.warn(
        `Could not enqueue webhook deliveries ${ids.join(', ')} (the requeue-owed-webhooks sweep will): ${error.message}`,
      ),
    );
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    if (!event.queryRunner.isTransactionActive) {
      takeWrittenDeliveries(event.queryRunner);
    }
  }
}
