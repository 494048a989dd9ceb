import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { DataSource, type EntityManager } from 'typeorm';
import {
  BATCH_FILE_DEFAULT_TTL_SECONDS,
  BatchEntity,
  type BatchRequestResultEntity,
  BatchTransitions,
  FileEntity,
  FileStorage,
  isTerminal,
  newBatchRequestId,
  newFileId,
  parseJsonLine,
  readLines,
  secondsAfter,
  StoredObjectMissingError,
  UsageLedgerEntity,
} from '@app/core';
import { MAX_INPUT_LINE_BYTES } from '../batch-input';
import { RequestResults } from '../request-results';

type FinalStatus = 'completed' | 'expired' | 'cancelled';

/** What an unexecuted line says in the error file, by how the batch ended. */
const NOT_EXECUTED: Record<FinalStatus, { code: string; message: string }> = {
  expired: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' },
  cancelled: { code: 'batch_cancelled', message: 'This request was not executed because the batch was cancelled.' },
  completed: { code: 'request_not_executed', message: 'This request could not be executed because of an internal error.' },
};

interface WrittenResults {
  outputKey: string | null;
  outputBytes: number;
  errorKey: string | null;
  errorBytes: number;
  notExecuted: number;
}

interface InputEntry {
  lineNumber: number;
  customId: string;
}

/**
 * The end of a batch: streams the output and error files (input order, one line per request),
 * then in one transaction registers them, moves the batch to its final status and bills the
 * workspace. Re-running it after a crash writes the same files and bills nothing twice.
 */
@Injectable()
export class FinalizeBatchStep {
  private readonly logger = new Logger(FinalizeBatchStep.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly storage: FileStorage,
    private readonly results: RequestResults,
    private readonly transitions: BatchTransitions,
  ) {}

  async run(batchId: string): Promise<void> {
    const batch = await this.load(batchId);
    if (!batch || isTerminal(batch.status)) {
      return;
    }
    const status = await this.finalStatusOf(batch);
    const written = batch.inProgressAt
      ? await this.writeResults(batch, status)
      : { outputKey: null, outputBytes: 0, errorKey: null, errorBytes: 0, notExecuted: 0 };
    await this.dataSource.transaction(async (manager) => {
      const outputFileId = written.outputKey ? await this.registerFile(manager, batch, written.outputKey, written.outputBytes, 'output') : null;
      const errorFileId = written.errorKey ? await this.registerFile(manager, batch, written.errorKey, written.errorBytes, 'error') : null;
      const fresh = await manager.getRepository(BatchEntity).findOneByOrFail({ id: batchId });
      const moved = await this.transitions.move(
        batchId,
        status,
        { outputFileId, errorFileId, requestFailed: fresh.requestFailed + written.notExecuted },
        manager,
      );
      if (!moved) {
        throw new Error(`Batch ${batchId} left ${batch.status} while finalizing; will retry`);
      }
      await this.bill(manager, fresh);
    });
    await this.results.purge(batchId);
    this.logger.log(`Batch ${batchId} ${status} (${written.notExecuted} request(s) not executed)`);
  }

  /** in_progress moves to finalizing here (unless the window has passed), so a cancel cannot race the files. */
  private async finalStatusOf(batch: BatchEntity): Promise<FinalStatus> {
    const expired = batch.expiresAt.getTime() <= Date.now();
    switch (batch.status) {
      case 'cancelling':
        return 'cancelled';
      case 'finalizing':
        return 'completed';
      case 'validating':
        if (expired) {
          return 'expired';
        }
        throw new Error(`Batch ${batch.id} is still validating`);
      case 'in_progress': {
        const unanswered = batch.requestTotal - batch.requestCompleted - batch.requestFailed;
        if (expired && unanswered > 0) {
          return 'expired';
        }
        if (await this.transitions.move(batch.id, 'finalizing')) {
          return 'completed';
        }
        const reloaded = await this.load(batch.id);
        if (reloaded?.status !== 'cancelling') {
          throw new Error(`Batch ${batch.id} moved to ${reloaded?.status} while finalizing`);
        }
        return 'cancelled';
      }
      default:
        throw new Error(`Batch ${batch.id} cannot be finalized from ${batch.status}`);
    }
  }

  private async writeResults(batch: BatchEntity, status: FinalStatus): Promise<WrittenResults> {
    const outputKey = `${batch.workspaceId}/batches/${batch.id}/output.jsonl`;
    const errorKey = `${batch.workspaceId}/batches/${batch.id}/errors.jsonl`;
    const output = new PassThrough();
    const errors = new PassThrough();
    const stored = Promise.all([this.storage.write(outputKey, output), this.storage.write(errorKey, errors)]);
    const counts = { output: 0, errors: 0, notExecuted: 0 };
    try {
      for await (const { entry, result } of this.merge(batch)) {
        const line =
          result?.outputLine ??
          JSON.stringify({ id: newBatchRequestId(), custom_id: entry.customId, response: null, error: NOT_EXECUTED[status] });
        const target = result?.outcome === 'succeeded' ? output : errors;
        counts[target === output ? 'output' : 'errors']++;
        counts.notExecuted += result ? 0 : 1;
        if (!target.write(`${line}\n`)) {
          await once(target, 'drain');
        }
      }
      output.end();
      errors.end();
    } catch (error) {
      output.destroy(error as Error);
      errors.destroy(error as Error);
      await stored.catch(() => undefined);
      throw error;
    }
    const [outputStat, errorStat] = await stored;
    return {
      outputKey: counts.output > 0 ? outputKey : await this.discard(outputKey),
      outputBytes: outputStat.bytes,
      errorKey: counts.errors > 0 ? errorKey : await this.discard(errorKey),
      errorBytes: errorStat.bytes,
      notExecuted: counts.notExecuted,
    };
  }

  /** Input lines in order, each with its stored answer or none. */
  private async *merge(batch: BatchEntity): AsyncGenerator<{ entry: InputEntry; result: BatchRequestResultEntity | null }> {
    const answers = this.results.inLineOrder(batch.id);
    let next = await answers.next();
    for await (const entry of this.inputEntries(batch)) {
      while (!next.done && next.value.lineNumber < entry.lineNumber) {
        next = await answers.next();
      }
      const matches = !next.done && next.value.lineNumber === entry.lineNumber;
      yield { entry, result: matches ? next.value : null };
    }
  }

  private async *inputEntries(batch: BatchEntity): AsyncGenerator<InputEntry> {
    const file = await this.dataSource.getRepository(FileEntity).findOneBy({ id: batch.inputFileId });
    let content;
    try {
      if (!file) {
        throw new StoredObjectMissingError(batch.inputFileId);
      }
      content = await this.storage.read(file.storageKey);
    } catch (error) {
      if (!(error instanceof StoredObjectMissingError)) {
        throw error;
      }
      // Without the input only the answered lines can be reported.
      for await (const result of this.results.inLineOrder(batch.id)) {
        yield { lineNumber: result.lineNumber, customId: result.customId };
      }
      return;
    }
    for await (const line of readLines(content, MAX_INPUT_LINE_BYTES)) {
      const parsed = parseJsonLine(line.bytes);
      if (parsed.kind === 'object' && typeof parsed.value.custom_id === 'string') {
        yield { lineNumber: line.number, customId: parsed.value.custom_id };
      }
    }
  }

  private async registerFile(
    manager: EntityManager,
    batch: BatchEntity,
    storageKey: string,
    bytes: number,
    kind: 'output' | 'error',
  ): Promise<string> {
    const createdAt = new Date();
    const ttl = batch.outputExpiresAfterSeconds ?? BATCH_FILE_DEFAULT_TTL_SECONDS;
    const files = manager.getRepository(FileEntity);
    const file = await files.save(
      files.create({
        id: newFileId(),
        workspaceId: batch.workspaceId,
        purpose: 'batch_output',
        filename: `${batch.id}_${kind}.jsonl`,
        bytes,
        storageKey,
        createdAt,
        expiresAt: secondsAfter(createdAt, ttl),
      }),
    );
    return file.id;
  }

  /** One ledger row per batch and model; the unique key makes a repeated finalize bill nothing. */
  private async bill(manager: EntityManager, batch: BatchEntity): Promise<void> {
    if (!batch.model) {
      return;
    }
    await manager
      .createQueryBuilder()
      .insert()
      .into(UsageLedgerEntity)
      .values({
        workspaceId: batch.workspaceId,
        batchId: batch.id,
        model: batch.model,
        requestCount: batch.requestCompleted,
        inputTokens: batch.inputTokens,
        cachedTokens: batch.cachedTokens,
        outputTokens: batch.outputTokens,
        reasoningTokens: batch.reasoningTokens,
      })
      .orIgnore()
      .execute();
  }

  private async discard(key: string): Promise<null> {
    await this.storage.delete(key);
    return null;
  }

  private load(batchId: string): Promise<BatchEntity | null> {
    return this.dataSource.getRepository(BatchEntity).findOneBy({ id: batchId });
  }
}
