import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { recordWebhookEvent } from '../webhooks/webhook-outbox';
import { ALLOWED_FROM, type BatchStatus, isTerminal, TIMESTAMP_OF } from './batch-status';
import { BatchEntity } from './batch.entity';

type TargetStatus = Exclude<BatchStatus, 'validating'>;

/** Columns a transition may set along with the status (never the status or its timestamp). */
export type TransitionChanges = Partial<
  Pick<
    BatchEntity,
    | 'model'
    | 'errors'
    | 'outputFileId'
    | 'errorFileId'
    | 'requestTotal'
    | 'requestFailed'
    | 'requestCompleted'
    | 'providerCompleted'
    | 'providerFailed'
  >
>;

export interface MoveOptions {
  /** Run inside this transaction. */
  manager?: EntityManager;
  /** Apply only while this finalizer still holds the batch's lease. */
  finalizerToken?: string;
}

/**
 * The only writer of `batches.status`. Every change is a guarded UPDATE that applies only from an
 * allowed status, so a late or duplicate worker can never move a batch backwards or out of a
 * terminal status. Returns whether this call made the change.
 *
 * A move to a terminal status also writes the batch's webhook event and deliveries (the outbox) in the
 * same transaction: the caller's, or one of its own when the caller gave none.
 */
@Injectable()
export class BatchTransitions {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async move(
    batchId: string,
    to: TargetStatus,
    changes: TransitionChanges = {},
    options: MoveOptions = {},
  ): Promise<boolean> {
    const manager = options.manager ?? this.dataSource.manager;
    if (!isTerminal(to)) {
      return this.update(manager, batchId, to, changes, options.finalizerToken);
    }
    const moveAndRecord = async (transaction: EntityManager): Promise<boolean> => {
      const moved = await this.update(transaction, batchId, to, changes, options.finalizerToken);
      if (moved) {
        await recordWebhookEvent(transaction, batchId, to);
      }
      return moved;
    };
    return manager.queryRunner?.isTransactionActive ? moveAndRecord(manager) : manager.transaction(moveAndRecord);
  }

  private async update(
    manager: EntityManager,
    batchId: string,
    to: TargetStatus,
    changes: TransitionChanges,
    finalizerToken: string | undefined,
  ): Promise<boolean> {
    const query = manager
      .createQueryBuilder()
      .update(BatchEntity)
      .set({ ...changes, status: to, [TIMESTAMP_OF[to]]: () => 'clock_timestamp()' })
      .where('id = :batchId AND status IN (:...from)', { batchId, from: ALLOWED_FROM[to] });
    if (finalizerToken !== undefined) {
      query.andWhere('finalizer_token = :finalizerToken', { finalizerToken });
    }
    const result = await query.execute();
    return result.affected === 1;
  }
}
