import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { keysetPage, type Page } from '../database/reads/keyset-page';
import { PreparedReads, type ReadStatement, type WireRow } from '../database/reads/prepared-reads';
import { FileRepository } from '../files/file.repository';
import type { NewBatchFile } from './batch-file';
import { ALLOWED_FROM, type BatchStatus, OPEN_STATUSES } from './batch-status';
import { BatchTransitions } from './batch-transitions';
import { BatchEntity } from './batch.entity';
import { BATCH_WIRE, type BatchWire } from './batch.wire';

/** A batch of the workspace (value 2) by id (value 1). */
const batchById = (name: string, select: string): ReadStatement => ({
  name,
  types: ['text', 'text'],
  text: (p) => `${select} WHERE t.id = ${p(1)} AND t.workspace_id = ${p(2)}`,
});

/** How a batch is created. */
export interface CreateBatchOptions {
  /**
   * The workspace's rules for a new batch (its open-batch limit, its budget): run in the create's transaction
   * before the insert, the workspace's row locked until the commit, so two creates of a workspace take turns and
   * each sees the batches of the one before it. Throwing refuses the batch and stores nothing.
   */
  check?: (tx: EntityManager) => Promise<void>;
  /** A file made for the batch (a retry's input): stored with it, or not at all. */
  inputFile?: NewBatchFile;
}

/** Thrown by BatchRepository.create: the batch this one retries has been retried by another already. */
export class BatchAlreadyRetriedError extends Error {
  constructor(readonly batchId: string) {
    super(`Batch ${batchId} has been retried already`);
  }
}

/** Whether a finalizer took the lease, and if not, how long the holder's lease still runs. */
export interface LeaseTaking {
  taken: boolean;
  remainingMs: number;
}

export interface BatchPageRequest {
  limit: number;
  after?: string;
}

/**
 * The batches (table batches): their creation, their reads, the finalizer's lease on them, and the files they
 * make. Status is written only through BatchTransitions. The reads clients poll go through PreparedReads,
 * coalesced with the same reads of other requests; the others, and every write, are plain statements.
 */
@Injectable()
export class BatchRepository {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly transitions: BatchTransitions,
    private readonly reads: PreparedReads,
    private readonly files: FileRepository,
  ) {}

  private get rows() {
    return this.dataSource.getRepository(BatchEntity);
  }

  /** Runs `work` in one transaction: a batch's final commit spans its files, its status and the usage ledger. */
  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  /**
   * Stores a new batch, its `check` passed first, with its input file if made for it. A retry is linked to the
   * batch it retries in the same transaction: only one retry of a batch is ever stored.
   */
  async create(batch: BatchEntity, options: CreateBatchOptions = {}): Promise<BatchEntity> {
    return this.dataSource.transaction(async (tx) => {
      await tx.query(`SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE`, [batch.workspaceId]);
      await options.check?.(tx);
      if (options.inputFile) {
        await this.files.insertBatchFile(options.inputFile, tx);
      }
      // save, not insert: the batch it answers has every column, the unset ones null, as the Batch object shows them.
      const stored = await tx.save(batch);
      if (batch.retryOf !== null) {
        const [, linked] = await tx.query<[unknown, number]>(
          `UPDATE batches SET retried_by = $1 WHERE id = $2 AND workspace_id = $3 AND retried_by IS NULL`,
          [batch.id, batch.retryOf, batch.workspaceId],
        );
        if (linked !== 1) {
          throw new BatchAlreadyRetriedError(batch.retryOf);
        }
      }
      return stored;
    });
  }

  /** Removes a batch just created (its run could not be enqueued), with the input file made for it. */
  async undoCreate(batch: BatchEntity, inputFile?: NewBatchFile): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      // The batch it retries loses its link with it (retried_by is ON DELETE SET NULL).
      await tx.delete(BatchEntity, { id: batch.id });
      if (inputFile) {
        await this.files.remove(inputFile.id, tx);
      }
    });
  }

  /** The workspace's batch. */
  async find(workspaceId: string, batchId: string): Promise<BatchEntity | null> {
    const statement = batchById('batches.get', this.reads.selectFrom(BatchEntity));
    const [batch] = await this.reads.entities(BatchEntity, statement, [batchId, workspaceId]);
    return batch ?? null;
  }

  /** The Batch object's JSON text, written by PostgreSQL (BATCH_WIRE). */
  async findWire(workspaceId: string, batchId: string): Promise<WireRow<BatchWire> | null> {
    const source = this.reads.wireSource(BATCH_WIRE);
    const [batch] = await source.rows(batchById('batches.get.wire', source.select), [batchId, workspaceId]);
    return batch ?? null;
  }

  /**
   * A page of the workspace's batches, newest first, ties broken by id, so pages never skip or repeat a batch;
   * each one's JSON written by PostgreSQL (BATCH_WIRE).
   */
  page(workspaceId: string, request: BatchPageRequest): Promise<Page<WireRow<BatchWire>>> {
    return keysetPage(
      { source: this.reads.wireSource(BATCH_WIRE), name: 'batches.list.wire', filter: () => '', values: [], types: [] },
      {
        limit: request.limit,
        after: request.after,
        direction: 'DESC',
        workspaceId,
        cursorExists: (id) => this.rows.existsBy({ id, workspaceId }),
        itemName: 'Batch',
      },
    );
  }

  /** The batch by id alone: for the worker, whose jobs carry ids the api checked. */
  findById(batchId: string, manager: EntityManager = this.dataSource.manager): Promise<BatchEntity | null> {
    return manager.findOneBy(BatchEntity, { id: batchId });
  }

  /** The batch's status, null if it is gone: what a running chunk polls. */
  async statusOf(batchId: string): Promise<BatchStatus | null> {
    const rows = await this.dataSource.query<{ status: BatchStatus }[]>(`SELECT status FROM batches WHERE id = $1`, [
      batchId,
    ]);
    return rows[0]?.status ?? null;
  }

  /** Batches still open this long after their creation: whether each still has its job is the caller's check. */
  openCreatedBefore(secondsAgo: number): Promise<{ id: string; workspaceId: string }[]> {
    return this.dataSource.query<{ id: string; workspaceId: string }[]>(
      `SELECT id, workspace_id AS "workspaceId" FROM batches
       WHERE status = ANY($1) AND created_at < clock_timestamp() - make_interval(secs => $2)`,
      [OPEN_STATUSES, secondsAgo],
    );
  }

  /** Batches past their completion window that have yet to expire (still validating or running). */
  async pastWindow(): Promise<string[]> {
    const rows = await this.dataSource.query<{ id: string }[]>(
      `SELECT id FROM batches WHERE status = ANY($1) AND expires_at < clock_timestamp()`,
      [ALLOWED_FROM.expired],
    );
    return rows.map((row) => row.id);
  }

  /** The workspace's batches that have not ended. */
  async countOpen(workspaceId: string, tx: EntityManager): Promise<number> {
    const [row] = await tx.query<{ open: number }[]>(
      `SELECT count(*)::int AS open FROM batches WHERE workspace_id = $1 AND status = ANY($2)`,
      [workspaceId, OPEN_STATUSES],
    );
    return row.open;
  }

  /**
   * Moves the batch to cancelling if it may, and answers it as this call left it: read in the transaction that
   * moved it, so a worker that ends the batch at once cannot show through (its update waits for this row lock).
   * Null if the workspace has no such batch.
   */
  requestCancel(workspaceId: string, batchId: string): Promise<BatchEntity | null> {
    return this.dataSource.transaction(async (tx) => {
      const current = await tx.findOneBy(BatchEntity, { id: batchId, workspaceId });
      if (!current || current.status === 'cancelling') {
        return current;
      }
      await this.transitions.move(batchId, 'cancelling', {}, { manager: tx });
      return tx.findOneBy(BatchEntity, { id: batchId, workspaceId });
    });
  }

  /**
   * Takes the batch's finalizer lease for `seconds` unless another finalizer holds one that has not run out.
   * The token stays after the lease runs out: it also closes the journal to late answers (ResultJournalRepository.record).
   */
  async takeFinalizerLease(batchId: string, token: string, seconds: number): Promise<LeaseTaking> {
    const rows = await this.dataSource.query<{ token: string | null; remaining_ms: number }[]>(
      `WITH taken AS (
         UPDATE batches SET finalizer_token = $2, finalizer_lease_until = clock_timestamp() + make_interval(secs => $3)
         WHERE id = $1 AND (finalizer_lease_until IS NULL OR finalizer_lease_until < clock_timestamp())
         RETURNING finalizer_token
       )
       SELECT (SELECT finalizer_token FROM taken) AS token,
              GREATEST(0, EXTRACT(EPOCH FROM (finalizer_lease_until - clock_timestamp())) * 1000)::int AS remaining_ms
       FROM batches WHERE id = $1`,
      [batchId, token, seconds],
    );
    return { taken: rows[0]?.token === token, remainingMs: rows[0]?.remaining_ms ?? 0 };
  }

  /** Extends the lease while this token holds it; false once another finalizer has taken it over. */
  async renewFinalizerLease(batchId: string, token: string, seconds: number): Promise<boolean> {
    const [, affected] = await this.dataSource.query<[unknown, number]>(
      `UPDATE batches SET finalizer_lease_until = clock_timestamp() + make_interval(secs => $3)
       WHERE id = $1 AND finalizer_token = $2`,
      [batchId, token, seconds],
    );
    return affected > 0;
  }

  /** Ends this token's lease now, so the next finalizer may start at once. */
  async expireFinalizerLease(batchId: string, token: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE batches SET finalizer_lease_until = NULL WHERE id = $1 AND finalizer_token = $2`,
      [batchId, token],
    );
  }
}
