import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Repository } from 'typeorm';
import {
  AppError,
  BatchEntity,
  ErrorCode,
  FileEntity,
  fileStorageKey,
  FileStorage,
  isTerminal,
  MAX_BATCH_LINE_BYTES,
  newFileId,
  parseJsonLine,
  readLines,
} from '@app/core';
import { FilesService } from '../files/files.service';
import { BatchesService } from './batches.service';

/** A custom_id as a fixed-size digest: the set of successes stays small however long the ids are. */
const digestOf = (customId: string) => createHash('sha256').update(customId).digest('base64');

/** Thrown inside the linking transaction when another retry of the same batch won the race. */
class AlreadyRetried extends Error {}

/**
 * `POST /v1/batches/{id}/retry`: a new batch of the lines of an ended batch that did not succeed (failed,
 * expired, cancelled or never executed), linked both ways (`retry_of` / `retried_by`). Its input is a new File,
 * streamed from the original input, keeping each line byte for byte whose custom_id is not a success in the
 * output file (the journal is purged once a batch ends, so the output file is what tells).
 */
@Injectable()
export class BatchRetryService {
  private readonly logger = new Logger(BatchRetryService.name);

  constructor(
    @InjectRepository(BatchEntity) private readonly batches: Repository<BatchEntity>,
    private readonly batchesService: BatchesService,
    private readonly files: FilesService,
    private readonly storage: FileStorage,
  ) {}

  /** The retry batch; a batch already retried answers its existing retry (retrying is idempotent). */
  async retry(workspaceId: string, batchId: string): Promise<BatchEntity> {
    const original = await this.batchesService.get(workspaceId, batchId);
    if (original.retriedBy) {
      return this.batchesService.get(workspaceId, original.retriedBy);
    }
    if (!isTerminal(original.status)) {
      throw new AppError(
        ErrorCode.BatchNotRetryable,
        `Cannot retry a batch with status '${original.status}': wait until it has ended (completed, failed, expired or cancelled).`,
      );
    }
    const succeeded = await this.succeededIds(workspaceId, original);
    const input = await this.writeRetryInput(workspaceId, original, succeeded);
    // The file first, on its own: the budget's estimate reads it before the batch's transaction begins.
    await this.files.register(this.batches.manager, workspaceId, {
      id: input.fileId,
      purpose: 'batch',
      filename: input.filename,
      bytes: input.bytes,
      storageKey: input.storageKey,
    });
    let retry: BatchEntity;
    try {
      retry = await this.batchesService.admit(
        this.batchesService.newBatch(workspaceId, {
          endpoint: original.endpoint,
          inputFileId: input.fileId,
          completionWindow: original.completionWindow,
          metadata: original.metadata,
          outputExpiresAfterSeconds: original.outputExpiresAfterSeconds,
          retryOf: original.id,
        }),
        async (manager, created) => {
          const linked = await manager
            .createQueryBuilder()
            .update(BatchEntity)
            .set({ retriedBy: created.id })
            .where('id = :id AND workspace_id = :workspaceId AND retried_by IS NULL', { id: original.id, workspaceId })
            .execute();
          if (linked.affected !== 1) {
            throw new AlreadyRetried();
          }
        },
      );
    } catch (error) {
      await this.batches.manager.getRepository(FileEntity).delete({ id: input.fileId });
      await this.discard(input.storageKey);
      if (error instanceof AlreadyRetried) {
        const winner = await this.batchesService.get(workspaceId, batchId);
        return this.batchesService.get(workspaceId, winner.retriedBy ?? batchId);
      }
      throw error;
    }
    await this.batchesService.enqueueOrUndo(retry, async () => {
      await this.batches.manager.transaction(async (manager) => {
        await manager.getRepository(BatchEntity).update({ id: original.id, retriedBy: retry.id }, { retriedBy: null });
        await manager.getRepository(BatchEntity).delete({ id: retry.id });
        await manager.getRepository(FileEntity).delete({ id: input.fileId });
      });
      await this.discard(input.storageKey);
    });
    return retry;
  }

  /** Digests of the custom_ids answered with a 2xx: the output file's lines. */
  private async succeededIds(workspaceId: string, batch: BatchEntity): Promise<Set<string>> {
    const succeeded = new Set<string>();
    if (!batch.outputFileId) {
      return succeeded;
    }
    const content = await this.open(workspaceId, batch.outputFileId, 'output');
    for await (const line of readLines(content, Number.MAX_SAFE_INTEGER)) {
      const parsed = parseJsonLine(line.bytes);
      if (parsed.kind !== 'object') {
        continue;
      }
      const {
        custom_id: customId,
        response,
        error,
      } = parsed.value as {
        custom_id?: unknown;
        response?: { status_code?: unknown } | null;
        error?: unknown;
      };
      const status = response?.status_code;
      if (typeof customId === 'string' && (error ?? null) === null && typeof status === 'number' && status < 300) {
        succeeded.add(digestOf(customId));
      }
    }
    return succeeded;
  }

  /** Streams the original input's unsucceeded lines into a new stored object; none → 400, nothing kept. */
  private async writeRetryInput(workspaceId: string, batch: BatchEntity, succeeded: Set<string>) {
    const content = await this.open(workspaceId, batch.inputFileId, 'input');
    let lines = 0;
    async function* unsucceeded(): AsyncGenerator<Buffer> {
      for await (const line of readLines(content, MAX_BATCH_LINE_BYTES)) {
        const parsed = parseJsonLine(line.bytes);
        if (parsed.kind === 'blank') {
          continue;
        }
        const customId = parsed.kind === 'object' ? parsed.value.custom_id : undefined;
        if (typeof customId === 'string' && succeeded.has(digestOf(customId))) {
          continue;
        }
        lines += 1;
        // The line as it was, its CRLF included; a last line without a newline gets one.
        const terminator = line.end - line.start - line.bytes.length === 2 ? '\r\n' : '\n';
        yield Buffer.concat([line.bytes, Buffer.from(terminator)]);
      }
    }
    const fileId = newFileId();
    const storageKey = fileStorageKey(workspaceId, fileId);
    const { bytes } = await this.storage.write(storageKey, Readable.from(unsucceeded()));
    if (lines === 0) {
      await this.discard(storageKey);
      throw new AppError(
        ErrorCode.NothingToRetry,
        `Batch ${batch.id} has nothing to retry: every request in it succeeded.`,
        'batch_id',
      );
    }
    return { fileId, storageKey, bytes, filename: `${batch.id}_retry.jsonl` };
  }

  private async open(workspaceId: string, fileId: string, kind: 'input' | 'output'): Promise<Readable> {
    try {
      return (await this.files.openContent(workspaceId, fileId)).content;
    } catch (error) {
      if (error instanceof AppError && error.code === ErrorCode.FileNotFound) {
        throw new AppError(
          ErrorCode.InvalidRequest,
          `Cannot retry: the batch's ${kind} file ${fileId} no longer exists (expired or deleted).`,
          'batch_id',
        );
      }
      throw error;
    }
  }

  private async discard(storageKey: string): Promise<void> {
    await this.storage
      .delete(storageKey)
      .catch((error: Error) => this.logger.error(`Could not remove retry input ${storageKey}`, error.stack));
  }
}
