import { Injectable, Logger } from '@nestjs/common';
import {
  type BatchEntity,
  type ProviderBatchEntity,
  keyOf,
  ProviderBatchRepository,
  ResultJournalRepository,
  type StageEnding,
  type StageKey,
  stageSegmentPrefix,
} from '@app/core';
import { WorkerEnvironment } from '../../config/worker-environment';
import { OutageGuard } from '../../infrastructure/outage-guard';
import { WorkerMetrics } from '../../monitoring/worker-metrics';
import type { ProviderBatchApi, ProviderBatchView } from '../../providers/provider-batch-api';
import { isConnectionFailure, ProviderAwayError, type ProviderRefusedError } from '../../providers/provider-http';
import type { ProviderLine } from '../../providers/provider-line';
import { isRetriableFailure } from '../../upstream/retry-policy';
import type { UpstreamOutcome } from '../../upstream/upstream.client';
import type { Upstream } from '../../upstream/upstream-routes';
import { BatchInputReader } from '../batch-input-reader';
import { ChunkJournal } from '../journal/chunk-journal';
import { JournalStore } from '../journal/journal-store';
import type { LineResult } from '../journal/line-result';
import { ResultErrorCode } from '../result-error-code';
import { budgetExceededResult, notExecutedLine, resultOf } from '../result-lines';
import { CustomIdTable } from './custom-id-table';
import { StageCustomIds } from './stage-custom-ids';
import { NO_USAGE } from '../usage';

/** Never fires: ingestion does not stop halfway (a crash repeats it, and the journal ignores what it has). */
const NEVER = new AbortController().signal;

/**
 * Lines a journal group holds when results are copied: they arrive all at once rather than as answers over time,
 * so larger groups than the executing lanes' cost fewer statements and segments at no cost in latency.
 */
const COPY_GROUP_LINES = 2_500;

/**
 * Copies an ended provider batch into the journal, each of the stage's lines at most once: answers as they
 * are (our `batch_req_` ids, the user's custom_id), and lines the provider failed for a retriable reason
 * handed to the next upstream of the fallback chain while the batch's window lasts. Without a next one, an
 * expired line ends `batch_expired`; lines the provider never ran are left to the finalizer.
 */
@Injectable()
export class ShardIngestion {
  private readonly logger = new Logger(ShardIngestion.name);

  constructor(
    private readonly store: ProviderBatchRepository,
    private readonly input: BatchInputReader,
    private readonly sentCustomIds: StageCustomIds,
    private readonly journalStore: JournalStore,
    private readonly records: ResultJournalRepository,
    private readonly metrics: WorkerMetrics,
    private readonly outages: OutageGuard,
    private readonly env: WorkerEnvironment,
  ) {}

  async copy(
    batch: BatchEntity,
    chain: Upstream[],
    upstream: Upstream,
    api: ProviderBatchApi,
    stage: ProviderBatchEntity,
    view: ProviderBatchView,
  ): Promise<void> {
    const next = chain[stage.stage + 1];
    const canFallBack = next !== undefined && batch.status === 'in_progress' && batch.expiresAt.getTime() > Date.now();
    const customIds = await this.customIdsOf(batch, stage);
    // A provider batch that failed as a whole (its validation) counted none of its lines.
    const journal = this.journalOf(batch, stage, !view.failed);
    const handOn: number[] = [];
    const settle = (line: ProviderLine) => {
      const customId = customIds.get(line.lineNumber) as string;
      customIds.delete(line.lineNumber);
      if (line.kind === 'answered') {
        if (canFallBack && isRetriableFailure(line.outcome)) {
          handOn.push(line.lineNumber);
        } else {
          journal.add(resultOf(line.lineNumber, customId, line.outcome));
        }
      } else if (canFallBack) {
        handOn.push(line.lineNumber);
      } else if (line.kind === 'expired') {
        journal.add(notExecuted(line.lineNumber, customId));
      }
    };
    if (view.failed) {
      const outcome: UpstreamOutcome = {
        kind: 'error',
        code: ResultErrorCode.ProviderBatchFailed,
        message: view.failed.message,
        attempts: 1,
      };
      for (const lineNumber of [...customIds.keys()]) {
        settle({ kind: 'answered', lineNumber, outcome });
        await journal.capacity(NEVER);
      }
    } else {
      await this.readResults(api, view, keyOf(stage), journal, (line) => {
        if (customIds.has(line.lineNumber)) {
          settle(line);
        }
      });
    }
    if (canFallBack) {
      // Lines the provider's files do not mention (it lost them) are the fallback's too.
      handOn.push(...customIds.keys());
    }
    await journal.close();
    const nextStage =
      canFallBack && handOn.length > 0 ? { stage: stage.stage + 1, upstream: next.name, lines: handOn } : null;
    await this.outages.retry(`Ending stage ${stage.stage} of a shard of batch ${batch.id}`, () =>
      this.store.finish(stage, nativeEnding(upstream), nextStage),
    );
    if (nextStage) {
      this.metrics.fellBack(upstream.name, next.name, handOn.length);
      this.logger.log(
        `${handOn.length} line(s) of batch ${batch.id} that ${upstream.name} failed go to its fallback ${next.name}`,
      );
    }
  }

  /**
   * Streams the provider's results into `take`. A download cut short is the provider away, not a failure of the
   * shard: what was read is recorded, and the next turn reads the results again (the journal ignores what it has).
   */
  private async readResults(
    api: ProviderBatchApi,
    view: ProviderBatchView,
    tag: StageKey,
    journal: ChunkJournal,
    take: (line: ProviderLine) => void,
  ): Promise<void> {
    try {
      for await (const page of api.results(view, tag)) {
        page.forEach(take);
        await journal.capacity(NEVER);
      }
    } catch (error) {
      if (!isConnectionFailure(error)) {
        throw error;
      }
      await journal.close().catch(() => undefined);
      throw new ProviderAwayError(`Reading the provider's results stopped: ${(error as Error).message}`);
    }
  }

  /** The provider would not take the stage (a 4xx at submit): each of its lines fails with the provider's answer. */
  refuse(
    batch: BatchEntity,
    upstream: Upstream,
    stage: ProviderBatchEntity,
    refusal: ProviderRefusedError,
  ): Promise<void> {
    const outcome: UpstreamOutcome = {
      kind: 'response',
      statusCode: refusal.statusCode,
      requestId: `req_refused_${stage.batchId}_${stage.shard}`,
      body: refusal.body,
      json: null,
      attempts: 1,
    };
    return this.failAll(batch, upstream, stage, (lineNumber, customId) => resultOf(lineNumber, customId, outcome));
  }

  /** The workspace had used its budget before the stage was sent: none of its lines goes to the provider. */
  overBudget(batch: BatchEntity, upstream: Upstream, stage: ProviderBatchEntity): Promise<void> {
    return this.failAll(batch, upstream, stage, budgetExceededResult);
  }

  private async failAll(
    batch: BatchEntity,
    upstream: Upstream,
    stage: ProviderBatchEntity,
    resultFor: (lineNumber: number, customId: string) => LineResult,
  ): Promise<void> {
    const journal = this.journalOf(batch, stage, false);
    for (const [lineNumber, customId] of (await this.customIdsOf(batch, stage)).entries()) {
      journal.add(resultFor(lineNumber, customId));
      await journal.capacity(NEVER);
    }
    await journal.close();
    await this.outages.retry(`Ending stage ${stage.stage} of a shard of batch ${batch.id}`, () =>
      this.store.finish(stage, nativeEnding(upstream), null),
    );
  }

  /**
   * The stage's journal. `countedByProvider`: its lines are among the counts the provider reported while it ran,
   * mirrored into the batch's until now, so recording them takes them out of that mirror.
   */
  private journalOf(batch: BatchEntity, stage: ProviderBatchEntity, countedByProvider: boolean): ChunkJournal {
    return new ChunkJournal(
      this.journalStore,
      this.outages,
      batch,
      stageSegmentPrefix(keyOf(stage)),
      {
        maxLines: Math.max(this.env.JOURNAL_GROUP_MAX_LINES, COPY_GROUP_LINES),
        maxDelayMs: this.env.JOURNAL_GROUP_MAX_DELAY_MS,
      },
      countedByProvider,
    );
  }

  /**
   * The user's custom_id of each line of the stage not yet in the journal (a repeated copy skips what it has): as noted
   * when the stage was sent, else read from the input.
   */
  private async customIdsOf(batch: BatchEntity, stage: ProviderBatchEntity): Promise<CustomIdTable> {
    const [answered, sent] = await Promise.all([
      this.outages.retry(`Reading the journal of batch ${batch.id}`, () =>
        this.records.answeredLines(batch.id, stage.firstLine, stage.lastLine),
      ),
      this.outages.retry(`Reading the custom_ids sent by a stage of batch ${batch.id}`, () =>
        this.sentCustomIds.read(batch, stage),
      ),
    ]);
    if (sent) {
      for (const lineNumber of answered) {
        sent.delete(lineNumber);
      }
      return sent;
    }
    const only = stage.lines ? new Set(stage.lines) : null;
    const window = { firstLine: stage.firstLine, start: stage.startByte, end: stage.endByte };
    const customIds = await this.outages.retry(`Reading the input of batch ${batch.id}`, () =>
      this.input.customIds(batch, window, (lineNumber) => !answered.has(lineNumber) && (!only || only.has(lineNumber))),
    );
    return CustomIdTable.of(customIds ?? []);
  }
}

const notExecuted = (lineNumber: number, customId: string): LineResult => ({
  lineNumber,
  outcome: 'failed',
  line: notExecutedLine(customId, 'expired'),
  usage: NO_USAGE,
});

/** A native stage's end: billed at the batch price, and what it left at the provider deleted unless it is kept. */
export const nativeEnding = (upstream: Upstream): StageEnding => ({
  native: true,
  discardFiles: !upstream.keepProviderFiles,
});

/** An executing stage's end: billed online with its lines, nothing left at a provider. */
export const EXECUTED_ENDING: StageEnding = { native: false, discardFiles: false };
