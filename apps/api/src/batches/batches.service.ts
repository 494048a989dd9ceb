import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import {
  AppError,
  BatchEntity,
  BatchRepository,
  dropPendingChunks,
  enqueueBatch,
  ErrorCode,
  type JobOf,
  type JobName,
  type JsonOf,
  type BatchWire,
  type NewBatchFile,
  newBatchId,
  type Page,
  ProviderBatchRepository,
  QueueName,
  secondsAfter,
  type WireRow,
  withDeadline,
} from '@app/core';
import { ApiEnvironment } from '../config/api-environment';
import { FilesService } from '../files/files.service';
import { BatchAdmission } from './batch-admission.service';
import { parseWindowList, windowSeconds } from './completion-window';
import type { CreateBatchDto } from './dto/create-batch.dto';
import type { ListBatchesQueryDto } from './dto/list-batches.query.dto';

const ENQUEUE_TIMEOUT_MS = 5000;

@Injectable()
export class BatchesService {
  private readonly logger = new Logger(BatchesService.name);
  private readonly windows: string[];

  constructor(
    private readonly batches: BatchRepository,
    @InjectQueue(QueueName.Batches) private readonly queue: Queue<JobOf<JobName.RunBatch>>,
    private readonly files: FilesService,
    private readonly providerBatches: ProviderBatchRepository,
    private readonly admission: BatchAdmission,
    private readonly env: ApiEnvironment,
  ) {
    this.windows = parseWindowList(env.BATCH_COMPLETION_WINDOWS);
    this.queue.on('error', (error) => this.logger.warn(`Queue connection: ${error.message}`));
  }

  /** Stores the batch and enqueues its run as one step: if the queue cannot take it, no batch is left behind. */
  async create(workspaceId: string, request: CreateBatchDto): Promise<BatchEntity> {
    await this.checkInputFile(workspaceId, request.input_file_id);
    const batch = await this.admission.admit(
      this.newBatch(workspaceId, {
        endpoint: request.endpoint,
        inputFileId: request.input_file_id,
        completionWindow: request.completion_window,
        metadata: request.metadata ?? null,
        outputExpiresAfterSeconds: request.output_expires_after?.seconds ?? null,
        retryOf: null,
      }),
    );
    await this.enqueueOrUndo(batch);
    return batch;
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
    return Object.assign(new BatchEntity(), {
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

  /**
   * Enqueues the run of a batch just stored; if the queue cannot take it, the batch is removed (with the input
   * file made for it) and the caller gets 503.
   */
  async enqueueOrUndo(batch: BatchEntity, inputFile?: NewBatchFile): Promise<void> {
    try {
      await withDeadline(enqueueBatch(this.queue, batch), ENQUEUE_TIMEOUT_MS, 'Batch queue (Redis)');
    } catch (error) {
      await this.batches.undoCreate(batch, inputFile);
      this.logger.error(`Could not enqueue batch ${batch.id}: ${(error as Error).message}`);
      throw new AppError(
        ErrorCode.QueueUnavailable,
        'The batch queue is unavailable right now; no batch was created. Please retry shortly.',
      );
    }
  }

  async get(workspaceId: string, batchId: string): Promise<BatchEntity> {
    return this.found(batchId, await this.batches.find(workspaceId, batchId));
  }

  /** The Batch object's JSON text, written by PostgreSQL: what clients poll. */
  async getWire(workspaceId: string, batchId: string): Promise<JsonOf<BatchWire>> {
    return this.found(batchId, await this.batches.findWire(workspaceId, batchId)).json;
  }

  list(workspaceId: string, query: ListBatchesQueryDto): Promise<Page<WireRow<BatchWire>>> {
    return this.batches.page(workspaceId, query);
  }

  /**
   * validating/in_progress → cancelling; the worker notices and winds the batch down. Repeating it is harmless.
   * The answer is the batch as this call left it: read in the transaction that moved it, so a worker that ends
   * the batch at once cannot turn the reply into 'cancelled' (its update waits for this row lock).
   */
  async cancel(workspaceId: string, batchId: string): Promise<BatchEntity> {
    const batch = this.found(batchId, await this.batches.requestCancel(workspaceId, batchId));
    if (batch.status !== 'cancelling') {
      throw new AppError(ErrorCode.BatchNotCancellable, `Cannot cancel a batch with status '${batch.status}'.`);
    }
    // Its waiting chunks need not wait their turn to find out; running ones notice within a poll.
    await dropPendingChunks(this.queue, batchId, this.providerBatches).catch((error: Error) =>
      this.logger.warn(`Could not drop the waiting chunks of batch ${batchId}: ${error.message}`),
    );
    return batch;
  }

  private found<T>(batchId: string, batch: T | null): T {
    if (!batch) {
      throw new AppError(ErrorCode.BatchNotFound, `No such Batch object: ${batchId}`, 'id');
    }
    return batch;
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
