import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  BatchEntity,
  type BatchRequestLine,
  type ChunkRange,
  checkRequestLine,
  isBatchProblem,
  parseJsonLine,
  type RawLine,
} from '@app/core';
import { WorkerEnvironment } from '../../config/worker-environment';
import { OutageGuard } from '../../infrastructure/outage-guard';
import { UpstreamAbandonedError, UpstreamClient } from '../../upstream/upstream.client';
import { BatchInputReader } from '../batch-input-reader';
import { BatchWatch } from '../batch-watch';
import { ChunkJournal } from '../journal/chunk-journal';
import { JournalStore } from '../journal/journal-store';
import { RequestSlots } from '../request-slots';
import { resultOf } from '../result-lines';
import { WorkerDrain } from '../worker-drain';

/** How a chunk attempt ended: done (or nothing left to do), handed back (draining), or the batch stopped running. */
export type ChunkOutcome = 'done' | 'interrupted' | 'stopped';

/**
 * Sends a chunk's unanswered lines upstream with bounded concurrency; answers go to the result
 * journal in groups. Stops dispatching on cancel, expiry or shutdown, and while the journal cannot
 * record (a dependency is away); requests already in flight always finish and are recorded.
 */
@Injectable()
export class ExecuteChunkStep {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly input: BatchInputReader,
    private readonly upstream: UpstreamClient,
    private readonly journal: JournalStore,
    private readonly slots: RequestSlots,
    private readonly drain: WorkerDrain,
    private readonly outages: OutageGuard,
    private readonly env: WorkerEnvironment,
  ) {}

  async run(batchId: string, chunk: ChunkRange): Promise<ChunkOutcome> {
    const batch = await this.outages.retry(`Loading batch ${batchId}`, () =>
      this.dataSource.getRepository(BatchEntity).findOneBy({ id: batchId }),
    );
    if (!batch || batch.status !== 'in_progress' || !batch.model) {
      return batch && batch.status !== 'in_progress' ? 'stopped' : 'done';
    }
    const answered = await this.outages.retry(`Reading the journal of batch ${batchId}`, () =>
      this.journal.answeredLines(batchId, chunk.firstLine, chunk.lastLine),
    );
    if (answered.size >= chunk.lineCount) {
      return 'done';
    }
    const lines = await this.outages.retry(`Opening the input of batch ${batchId}`, () =>
      this.input.open(batch, { firstLine: chunk.firstLine, start: chunk.startByte, end: chunk.endByte }),
    );
    if (!lines) {
      return 'done';
    }
    const watch = new BatchWatch(
      this.dataSource,
      batchId,
      batch.expiresAt,
      this.env.BATCH_STATUS_POLL_MS,
      this.drain.signal,
    );
    const journal = new ChunkJournal(this.journal, this.outages, batch, chunk.index, {
      maxLines: this.env.JOURNAL_GROUP_MAX_LINES,
      maxDelayMs: this.env.JOURNAL_GROUP_MAX_DELAY_MS,
    });
    try {
      await this.dispatch(batch, lines, answered, journal, watch.signal);
    } finally {
      watch.close();
    }
    await journal.close();
    if (watch.reason === 'draining') {
      return 'interrupted';
    }
    return watch.reason === null ? 'done' : 'stopped';
  }

  private async dispatch(
    batch: BatchEntity,
    lines: AsyncIterable<RawLine>,
    answered: Set<number>,
    journal: ChunkJournal,
    stop: AbortSignal,
  ): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    const failures: unknown[] = [];
    try {
      for await (const line of lines) {
        if (stop.aborted) {
          break;
        }
        const request = answered.has(line.number) ? null : requestOf(line, batch.endpoint);
        if (!request) {
          continue;
        }
        if (!(await journal.capacity(stop)) || !(await this.slots.acquire(stop))) {
          break;
        }
        const task = this.execute(batch, line.number, request, journal, stop)
          .catch((error: unknown) => void failures.push(error))
          .finally(() => {
            this.slots.release();
            inFlight.delete(task);
          });
        inFlight.add(task);
      }
    } finally {
      // Whatever stopped the loop, answers already on their way are still recorded.
      await Promise.all(inFlight);
    }
    if (failures.length > 0) {
      throw failures[0];
    }
  }

  private async execute(
    batch: BatchEntity,
    lineNumber: number,
    request: BatchRequestLine,
    journal: ChunkJournal,
    stop: AbortSignal,
  ) {
    try {
      const outcome = await this.upstream.send(batch.model as string, request.url, request.body, stop);
      journal.add(resultOf(lineNumber, request.customId, outcome));
    } catch (error) {
      if (!(error instanceof UpstreamAbandonedError)) {
        throw error;
      }
    }
  }
}

function requestOf(line: RawLine, endpoint: string): BatchRequestLine | null {
  const parsed = parseJsonLine(line.bytes);
  if (parsed.kind !== 'object') {
    return null;
  }
  const request = checkRequestLine(parsed.value, line.number, endpoint);
  return isBatchProblem(request) ? null : request;
}
