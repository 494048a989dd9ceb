import { Injectable } from '@nestjs/common';
import {
  type BatchEntity,
  BatchRepository,
  type BatchRequestLine,
  type ChunkRange,
  ResultJournalRepository,
} from '@app/core';
import { WorkerEnvironment } from '../../config/worker-environment';
import { OutageGuard } from '../../infrastructure/outage-guard';
import { UpstreamAbandonedError, UpstreamClient } from '../../upstream/upstream.client';
import { UpstreamRoutes } from '../../upstream/upstream-routes';
import { BatchInputReader, type NumberedRequest } from '../batch-input-reader';
import { BatchWatch } from '../batch-watch';
import { ChunkJournal } from '../journal/chunk-journal';
import { JournalStore } from '../journal/journal-store';
import { RequestSlots } from '../request-slots';
import { BudgetGate } from '../budget-gate';
import { budgetExceededResult, resultOf } from '../result-lines';
import { WorkerDrain } from '../worker-drain';

/** How a chunk attempt ended: done (or nothing left to do), handed back (draining), or the batch stopped running. */
export type ChunkOutcome = 'done' | 'interrupted' | 'stopped';

/** Which lines of a range run, from which upstream of the fallback chain, into which journal segments. */
export interface ExecutionLane {
  segmentPrefix: string;
  chainFrom: number;
  only: ReadonlySet<number> | null;
}

/** Lines the executing upstreams failed until the chain reached a native upstream (at index `at`). */
export interface HandedOn {
  at: number;
  lines: number[];
}

/**
 * Sends a chunk's unanswered lines upstream with bounded concurrency; answers go to the result
 * journal in groups. Stops dispatching on cancel, expiry or shutdown, and while the journal cannot
 * record (a dependency is away); requests already in flight always finish and are recorded.
 */
@Injectable()
export class ExecuteChunkStep {
  constructor(
    private readonly batches: BatchRepository,
    private readonly input: BatchInputReader,
    private readonly upstream: UpstreamClient,
    private readonly routes: UpstreamRoutes,
    private readonly journal: JournalStore,
    private readonly records: ResultJournalRepository,
    private readonly slots: RequestSlots,
    private readonly drain: WorkerDrain,
    private readonly outages: OutageGuard,
    private readonly env: WorkerEnvironment,
    private readonly budget: BudgetGate,
  ) {}

  /** Whether the workspace has budget left for another line (waits out PostgreSQL being away). */
  budgetAllows(workspaceId: string): Promise<boolean> {
    return this.outages.retry(`Reading the budget of workspace ${workspaceId}`, () => this.budget.allows(workspaceId));
  }

  async run(batchId: string, chunk: ChunkRange): Promise<ChunkOutcome> {
    const batch = await this.outages.retry(`Loading batch ${batchId}`, () => this.batches.findById(batchId));
    if (!batch || batch.status !== 'in_progress' || !batch.model) {
      return batch && batch.status !== 'in_progress' ? 'stopped' : 'done';
    }
    const { outcome } = await this.runLane(batch, chunk, {
      segmentPrefix: `c${chunk.index}`,
      chainFrom: 0,
      only: null,
    });
    return outcome;
  }

  /**
   * Runs the unanswered lines of a range (all, or `lane.only`) from upstream `lane.chainFrom` of the model's
   * fallback chain. Lines that fail on the executing upstreams until the chain reaches a native one are not
   * recorded but handed on, for a provider batch of that upstream to run.
   */
  async runLane(
    batch: BatchEntity,
    range: ChunkRange,
    lane: ExecutionLane,
  ): Promise<{ outcome: ChunkOutcome; handedOn: HandedOn | null }> {
    const answered = await this.outages.retry(`Reading the journal of batch ${batch.id}`, () =>
      this.records.answeredLines(batch.id, range.firstLine, range.lastLine),
    );
    const wanted = (lineNumber: number) => !answered.has(lineNumber) && (!lane.only || lane.only.has(lineNumber));
    const window = { firstLine: range.firstLine, start: range.startByte, end: range.endByte };
    const lines =
      answered.size >= range.lineCount
        ? null
        : await this.outages.retry(`Opening the input of batch ${batch.id}`, () =>
            this.input.requests(batch, window, wanted),
          );
    if (!lines) {
      return { outcome: 'done', handedOn: null };
    }
    const watch = new BatchWatch(
      this.batches,
      batch.id,
      batch.expiresAt,
      this.env.BATCH_STATUS_POLL_MS,
      this.drain.signal,
    );
    const journal = new ChunkJournal(this.journal, this.outages, batch, lane.segmentPrefix, {
      maxLines: this.env.JOURNAL_GROUP_MAX_LINES,
      maxDelayMs: this.env.JOURNAL_GROUP_MAX_DELAY_MS,
    });
    const chain = this.routes.chainFor(batch.model as string);
    const handedOn: HandedOn = { at: -1, lines: [] };
    const send = async (lineNumber: number, request: BatchRequestLine, stop: AbortSignal) => {
      if (!(await this.budgetAllows(batch.workspaceId))) {
        journal.add(budgetExceededResult(lineNumber, request.customId));
        return;
      }
      const { outcome, at } = await this.upstream.sendAlong(chain, lane.chainFrom, request.url, request.body, stop);
      if (chain[at].batch === 'native') {
        handedOn.at = at;
        handedOn.lines.push(lineNumber);
      } else {
        const result = resultOf(lineNumber, request.customId, outcome);
        this.budget.spent(batch.workspaceId, result.usage.inputTokens + result.usage.outputTokens);
        journal.add(result);
      }
    };
    try {
      await this.dispatch(lines, journal, send, watch.signal);
    } finally {
      watch.close();
    }
    await journal.close();
    const outcome = watch.reason === 'draining' ? 'interrupted' : watch.reason === null ? 'done' : 'stopped';
    return { outcome, handedOn: handedOn.lines.length > 0 ? handedOn : null };
  }

  private async dispatch(
    lines: AsyncIterable<NumberedRequest>,
    journal: ChunkJournal,
    send: (lineNumber: number, request: BatchRequestLine, stop: AbortSignal) => Promise<void>,
    stop: AbortSignal,
  ): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    const failures: unknown[] = [];
    try {
      for await (const { lineNumber, request } of lines) {
        if (stop.aborted) {
          break;
        }
        if (!(await journal.capacity(stop)) || !(await this.slots.acquire(stop))) {
          break;
        }
        const task = abandonable(send(lineNumber, request, stop))
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
}

/** A line whose send was abandoned (the batch stopped while it waited) counts as not executed. */
async function abandonable(sending: Promise<void>): Promise<void> {
  try {
    await sending;
  } catch (error) {
    if (!(error instanceof UpstreamAbandonedError)) {
      throw error;
    }
  }
}
