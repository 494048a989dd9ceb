import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Queue } from 'bullmq';
import { type EntityManager, In, Repository } from 'typeorm';
import {
  AppError,
  BatchEntity,
  BatchTransitions,
  dropPendingChunks,
  enqueueBatch,
  ErrorCode,
  type JobOf,
  type JobName,
  keysetPage,
  newBatchId,
  OPEN_STATUSES,
  type Page,
  PreparedReads,
  QueueName,
  type ReadStatement,
  secondsAfter,
  type WireRow,
  withDeadline,
} from '@app/core';
import { WorkspaceBudget } from '../budgets/workspace-budget.service';
import { ApiEnvironment } from '../config/api-environment';
import { FilesService } from '../files/files.service';
import { parseWindowList, windowSeconds } from './completion-window';
import { BATCH_WIRE } from './dto/batch-object.dto';
import type { CreateBatchDto } from './dto/create-batch.dto';
import type { ListBatchesQueryDto } from './dto/list-batches.query.dto';

const ENQUEUE_TIMEOUT_MS = 5000;
/** A batch of the workspace (value 2) by id (value 1). */
const batchById = (name: string, select: string): ReadStatement => ({
  name,
  types: ['text', 'text'],
  text: (p) => `${select} WHERE t.id = ${p(1)} AND t.workspace_id = ${p(2)}`,
});

@Injectable()
export class BatchesService {
  private readonly logger = new Logger(BatchesService.name);
  private readonly windows: string[];

  constructor(
    @InjectRepository(BatchEntity) private readonly batches: Repository<BatchEntity>,
    @InjectQueue(QueueName.Batches) private readonly queue: Queue<JobOf<JobName.RunBatch>>,
    private readonly files: FilesService,
    private readonly transitions: BatchTransitions,
    private readonly env: ApiEnvironment,
    private readonly reads: PreparedReads,
    private readonly budget: WorkspaceBudget,
  ) {
    this.windows = parseWindowList(env.BATCH_COMPLETION_WINDOWS);
    this.queue.on('error', (error) => this.logger.warn(`Queue connection: ${error.message}`));
  }

  /** Stores the batch and enqueues its run as one step: if the queue cannot take it, no batch is left behind. */
  async create(workspaceId: string, request: CreateBatchDto): Promise<BatchEntity> {
    await this.checkInputFile(workspaceId, request.input_file_id);
    const batch = await this.admit(
      this.newBatch(workspaceId, {
        endpoint: request.endpoint,
        inputFileId: request.input_file_id,
        completionWindow: request.completion_window,
        metadata: request.metadata ?? null,
        outputExpiresAfterSeconds: request.output_expires_after?.seconds ?? null,
        retryOf: null,
      }),
    );
    await this.enqueueOrUndo(batch, () => this.batches.delete({ id: batch.id }).then(() => undefined));
    return batch;
  }

  /**
   * Stores a new batch if the workspace may have it: within its open-batch limit and its token budget, checked
   * under one lock on the workspace (WorkspaceBudget.admit). `afterInsert` commits with it.
   */
  admit(
    batch: BatchEntity,
    afterInsert?: (manager: EntityManager, batch: BatchEntity) => Promise<void>,
  ): Promise<BatchEntity> {
    return this.budget.admit(batch, (manager) => this.checkOpenBatchLimit(batch.workspaceId, manager), afterInsert);
  }

  /** A batch about to be created (not saved yet): `validating`, its window starting now. */
  newBatch(
    workspaceId: string,
    fields: Pick<
      BatchEntity,
      'endpoint' | 'inputFileId' | 'completionWindow' | 'metadata' | 'outputExpiresAfterSeconds' | 'retryOf'
    >,
  ): BatchEntity {
    const window = this.windowOf(fields.completionWindow);
    const createdAt = new Date();
    return this.batches.create({
      ...fields,
      id: newBatchId(),
      workspaceId,
      model: null,
      errors: null,
      status: 'validating',
      createdAt,
      expiresAt: secondsAfter(createdAt, window),
      retriedBy: null,
    });
  }

  /** Enqueues the run of a stored batch; if the queue cannot take it, `undo` removes what was stored and the caller gets 503. */
  async enqueueOrUndo(batch: BatchEntity, undo: () => Promise<void>): Promise<void> {
    try {
      await withDeadline(enqueueBatch(this.queue, batch), ENQUEUE_TIMEOUT_MS, 'Batch queue (Redis)');
    } catch (error) {
      await undo();
      this.logger.error(`Could not enqueue batch ${batch.id}: ${(error as Error).message}`);
      throw new AppError(
        ErrorCode.QueueUnavailable,
        'The batch queue is unavailable right now; no batch was created. Please retry shortly.',
      );
    }
  }

  /** Inside a transaction through its `manager`; otherwise as a prepared read (what clients poll). */
  async get(workspaceId: string, batchId: string, manager?: EntityManager): Promise<BatchEntity> {
    const [batch] = manager
      ? [await manager.getRepository(BatchEntity).findOneBy({ id: batchId, workspaceId })]
      : await this.reads.entities(BatchEntity, batchById('batches.get', this.reads.selectFrom(BatchEntity)), [
          batchId,
          workspaceId,
        ]);
    if (!batch) {
      throw new AppError(ErrorCode.BatchNotFound, `No such Batch object: ${batchId}`, 'id');
    }
    return batch;
  }

  /** The Batch object's JSON text, written by PostgreSQL (BATCH_WIRE): what clients poll. */
  async getWire(workspaceId: string, batchId: string): Promise<string> {
    const source = this.reads.wireSource(BATCH_WIRE);
    const [batch] = await source.rows(batchById('batches.get.wire', source.select), [batchId, workspaceId]);
    if (!batch) {
      throw new AppError(ErrorCode.BatchNotFound, `No such Batch object: ${batchId}`, 'id');
    }
    return batch.json;
  }

  /** Newest first, ties broken by id, so pages never skip or repeat a batch; each batch's JSON written by PostgreSQL. */
  list(workspaceId: string, query: ListBatchesQueryDto): Promise<Page<WireRow>> {
    return keysetPage(
      { source: this.reads.wireSource(BATCH_WIRE), name: 'batches.list.wire', filter: () => '', values: [], types: [] },
      {
        limit: query.limit,
        after: query.after,
        direction: 'DESC',
        workspaceId,
        cursorExists: (id) => this.batches.existsBy({ id, workspaceId }),
        itemName: 'Batch',
      },
    );
  }

  /**
   * validating/in_progress → cancelling; the worker notices and winds the batch down. Repeating it is harmless.
   * The answer is the batch as this call left it: read in the transaction that moved it, so a worker that ends
   * the batch at once cannot turn the reply into 'cancelled' (its update waits for this row lock).
   */
  async cancel(workspaceId: string, batchId: string): Promise<BatchEntity> {
    const batch = await this.batches.manager.transaction(async (manager) => {
      const current = await this.get(workspaceId, batchId, manager);
      if (current.status === 'cancelling' || !(await this.transitions.move(batchId, 'cancelling', {}, { manager }))) {
        const now = await this.get(workspaceId, batchId, manager);
        if (now.status !== 'cancelling') {
          throw new AppError(ErrorCode.BatchNotCancellable, `Cannot cancel a batch with status '${now.status}'.`);
        }
        return now;
      }
      return this.get(workspaceId, batchId, manager);
    });
    // Its waiting chunks need not wait their turn to find out; running ones notice within a poll.
    await dropPendingChunks(this.queue, batchId, this.batches.manager).catch((error: Error) =>
      this.logger.warn(`Could not drop the waiting chunks of batch ${batchId}: ${error.message}`),
    );
    return batch;
  }

  /**
   * MAX_OPEN_BATCHES_PER_WORKSPACE. Creates of one workspace take turns on its row (locked by WorkspaceBudget.admit)
   * until their transaction ends, so each one counts the batches the one before it stored: two creates at the limit
   * cannot both pass, on any replica.
   */
  private async checkOpenBatchLimit(workspaceId: string, manager: EntityManager): Promise<void> {
    const limit = this.env.MAX_OPEN_BATCHES_PER_WORKSPACE;
    if (limit === undefined) {
      return;
    }
    const open = await manager.getRepository(BatchEntity).countBy({ workspaceId, status: In([...OPEN_STATUSES]) });
    if (open >= limit) {
      throw new AppError(
        ErrorCode.OpenBatchLimitExceeded,
        `This workspace already has ${open} open batches, the most it may have at once (${limit}). Wait for one to complete, or cancel one, before creating another.`,
      );
    }
  }

  private async checkInputFile(workspaceId: string, fileId: string): Promise<void> {
    const file = await this.files.get(workspaceId, fileId).catch((error: unknown) => {
      if (error instanceof AppError && error.code === ErrorCode.FileNotFound) {
        throw new AppError(
          ErrorCode.InvalidRequest,
          `Cannot find file ${fileId}, or this workspace does not have access to it.`,
          'input_file_id',
        );
      }
      throw error;
    });
    if (file.purpose !== 'batch') {
      throw new AppError(
        ErrorCode.InvalidRequest,
        `File ${fileId} has purpose '${file.purpose}'; a batch needs a file uploaded with purpose 'batch'.`,
        'input_file_id',
      );
    }
  }

  private windowOf(completionWindow: string): number {
    const seconds = this.windows.includes(completionWindow) ? windowSeconds(completionWindow) : null;
    if (seconds === null) {
      throw new AppError(
        ErrorCode.InvalidRequest,
        `Invalid 'completion_window': '${completionWindow}' is not one of ${this.windows.map((w) => `'${w}'`).join(', ')}.`,
        'completion_window',
      );
    }
    return this.env.BATCH_WINDOW_OVERRIDE_SECONDS ?? seconds;
  }
}
