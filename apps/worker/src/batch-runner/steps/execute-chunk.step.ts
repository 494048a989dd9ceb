import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  BatchEntity,
  type ChunkRange,
  FileEntity,
  FileStorage,
  newBatchRequestId,
  parseJsonLine,
  readLines,
  StoredObjectMissingError,
} from '@app/core';
import { WorkerEnvironment } from '../../config/worker-environment';
import { UpstreamAbandonedError, UpstreamClient, type UpstreamOutcome } from '../../upstream/upstream.client';
import { type BatchRequestLine, checkRequestLine, MAX_INPUT_LINE_BYTES } from '../batch-input';
import { BatchWatch } from '../batch-watch';
import { type RequestResult, RequestResults } from '../request-results';
import { RequestSlots } from '../request-slots';
import { NO_USAGE, usageOf } from '../usage';
import { WorkerDrain } from '../worker-drain';

export type ChunkOutcome = 'done' | 'interrupted';

/**
 * Sends a chunk's unanswered lines upstream with bounded concurrency, checkpointing each answer as
 * it arrives. Stops dispatching on cancel, expiry or shutdown; in-flight requests always finish.
 */
@Injectable()
export class ExecuteChunkStep {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly storage: FileStorage,
    private readonly upstream: UpstreamClient,
    private readonly results: RequestResults,
    private readonly slots: RequestSlots,
    private readonly drain: WorkerDrain,
    private readonly env: WorkerEnvironment,
  ) {}

  async run(batchId: string, chunk: ChunkRange): Promise<ChunkOutcome> {
    const batch = await this.dataSource.getRepository(BatchEntity).findOneBy({ id: batchId });
    if (!batch || batch.status !== 'in_progress' || !batch.model) {
      return 'done';
    }
    const answered = await this.results.answeredLines(batchId, chunk.firstLine, chunk.lastLine);
    if (answered.size >= chunk.lineCount) {
      return 'done';
    }
    const watch = new BatchWatch(this.dataSource, batchId, batch.expiresAt, this.env.BATCH_STATUS_POLL_MS, this.drain.signal);
    try {
      await this.dispatch(batch, chunk, answered, watch.signal);
    } finally {
      watch.close();
    }
    return watch.reason === 'draining' ? 'interrupted' : 'done';
  }

  private async dispatch(batch: BatchEntity, chunk: ChunkRange, answered: Set<number>, stop: AbortSignal): Promise<void> {
    const content = await this.openChunk(batch, chunk);
    if (!content) {
      return;
    }
    const inFlight = new Set<Promise<void>>();
    const failures: unknown[] = [];
    for await (const line of readLines(content, MAX_INPUT_LINE_BYTES, chunk.firstLine, chunk.startByte)) {
      if (stop.aborted) {
        break;
      }
      const request = answered.has(line.number) ? null : requestOf(line.bytes, line.number, batch.endpoint);
      if (!request) {
        continue;
      }
      if (!(await this.slots.acquire(stop))) {
        break;
      }
      const task = this.execute(batch, line.number, request, stop)
        .catch((error: unknown) => void failures.push(error))
        .finally(() => {
          this.slots.release();
          inFlight.delete(task);
        });
      inFlight.add(task);
    }
    content.destroy();
    await Promise.all(inFlight);
    if (failures.length > 0) {
      throw failures[0];
    }
  }

  private async openChunk(batch: BatchEntity, chunk: ChunkRange) {
    const file = await this.dataSource.getRepository(FileEntity).findOneBy({ id: batch.inputFileId });
    try {
      if (!file) {
        throw new StoredObjectMissingError(batch.inputFileId);
      }
      return await this.storage.read(file.storageKey, { start: chunk.startByte, end: chunk.endByte });
    } catch (error) {
      // The input was deleted mid-run: its unsent lines are reported as not executed at finalize.
      if (error instanceof StoredObjectMissingError) {
        return null;
      }
      throw error;
    }
  }

  private async execute(batch: BatchEntity, lineNumber: number, request: BatchRequestLine, stop: AbortSignal) {
    let outcome: UpstreamOutcome;
    try {
      outcome = await this.upstream.send(batch.model as string, request.url, request.body, stop);
    } catch (error) {
      if (error instanceof UpstreamAbandonedError) {
        return;
      }
      throw error;
    }
    await this.results.record(batch.id, resultOf(lineNumber, request.customId, outcome));
  }
}

function requestOf(bytes: Buffer, lineNumber: number, endpoint: string): BatchRequestLine | null {
  const parsed = parseJsonLine(bytes);
  if (parsed.kind !== 'object') {
    return null;
  }
  const request = checkRequestLine(parsed.value, lineNumber, endpoint);
  return 'code' in request ? null : request;
}

/** HTTP answers keep their status and body under `response`; transport failures go under `error`. */
function resultOf(lineNumber: number, customId: string, outcome: UpstreamOutcome): RequestResult {
  const id = newBatchRequestId();
  if (outcome.kind === 'error') {
    const error = { code: outcome.code, message: outcome.message };
    const outputLine = JSON.stringify({ id, custom_id: customId, response: null, error });
    return { lineNumber, customId, outcome: 'failed', outputLine, usage: NO_USAGE };
  }
  const succeeded = outcome.statusCode >= 200 && outcome.statusCode < 300;
  const response = { status_code: outcome.statusCode, request_id: outcome.requestId, body: outcome.body };
  const outputLine = JSON.stringify({ id, custom_id: customId, response, error: null });
  return {
    lineNumber,
    customId,
    outcome: succeeded ? 'succeeded' : 'failed',
    outputLine,
    usage: succeeded ? usageOf(outcome.body) : NO_USAGE,
  };
}
