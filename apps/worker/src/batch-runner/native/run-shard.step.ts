import { Injectable, Logger } from '@nestjs/common';
import {
  type BatchEntity,
  BatchRepository,
  type ChunkRange,
  type ProviderBatchEntity,
  keyOf,
  ProviderBatchRepository,
  stageSegmentPrefix,
} from '@app/core';
import { WorkerEnvironment } from '../../config/worker-environment';
import { OutageGuard } from '../../infrastructure/outage-guard';
import type { ProviderBatchApi, ProviderBatchView, ProviderSubmission } from '../../providers/provider-batch-api';
import { ProviderBatchApis } from '../../providers/provider-batch-apis';
import { ProviderAwayError, ProviderRefusedError } from '../../providers/provider-http';
import type { Upstream } from '../../upstream/upstream-routes';
import { UpstreamRoutes } from '../../upstream/upstream-routes';
import { BatchInputReader } from '../batch-input-reader';
import { ExecuteChunkStep } from '../steps/execute-chunk.step';
import { giveUpAt, nextPollMs, quotaWaitLeftMs, quotaWaitMs } from './poll-schedule';
import { EXECUTED_ENDING, nativeEnding, ShardIngestion } from './shard-ingestion';
import { StageCustomIds } from './stage-custom-ids';

/** How a shard job's turn ended: the shard is finished, or it waits (a poll, the provider away, a drain). */
export type ShardTurn = { done: true } | { done: false; waitMs: number };

const DONE: ShardTurn = { done: true };

/**
 * One shard of a batch on a provider's own Batch API, a turn at a time (the job waits, delayed, between
 * turns): stage 0 on the model's upstream, then a stage per fallback upstream for the lines the one before
 * failed for a retriable reason. A native stage is written before it is submitted, polled, cancelled when
 * our batch is, and copied into the journal when it ends; an executing stage runs its lines at once.
 */
@Injectable()
export class RunShardStep {
  private readonly logger = new Logger(RunShardStep.name);

  constructor(
    private readonly batches: BatchRepository,
    private readonly store: ProviderBatchRepository,
    private readonly apis: ProviderBatchApis,
    private readonly routes: UpstreamRoutes,
    private readonly input: BatchInputReader,
    private readonly ingestion: ShardIngestion,
    private readonly customIds: StageCustomIds,
    private readonly executeChunk: ExecuteChunkStep,
    private readonly outages: OutageGuard,
    private readonly env: WorkerEnvironment,
  ) {}

  private get pollMs(): number {
    return this.env.NATIVE_BATCH_POLL_SECONDS * 1000;
  }

  async run(batchId: string, range: ChunkRange): Promise<ShardTurn> {
    const batch = await this.outages.retry(`Loading batch ${batchId}`, () => this.batches.findById(batchId));
    if (!batch?.model || (batch.status !== 'in_progress' && batch.status !== 'cancelling')) {
      return DONE;
    }
    const chain = this.routes.chainFor(batch.model);
    const fresh = await this.outages.retry(`Recording shard ${range.index} of batch ${batchId}`, () =>
      this.store.begin(batchId, range, chain[0].name),
    );
    for (;;) {
      const stages = await this.outages.retry(`Reading shard ${range.index} of batch ${batchId}`, () =>
        this.store.stages(batchId, range.index),
      );
      const stage = stages.find((row) => row.state !== 'done');
      if (!stage) {
        return DONE;
      }
      const upstream = this.routes.named(stage.upstream);
      if (!upstream) {
        throw new Error(
          `Shard ${range.index} of batch ${batchId} runs on "${stage.upstream}", no longer in UPSTREAMS_FILE`,
        );
      }
      const turn =
        upstream.batch === 'native'
          ? await this.nativeTurn(batch, chain, upstream, stage, fresh && stage.stage === 0)
          : await this.executeTurn(batch, chain, stage);
      if (turn) {
        return turn;
      }
    }
  }

  /** Runs an executing stage's lines; null once the stage is done. */
  private async executeTurn(
    batch: BatchEntity,
    chain: Upstream[],
    stage: ProviderBatchEntity,
  ): Promise<ShardTurn | null> {
    const range = rangeOf(stage);
    const { outcome, handedOn } = await this.executeChunk.runLane(batch, range, {
      segmentPrefix: stageSegmentPrefix(keyOf(stage)),
      chainFrom: stage.stage,
      only: stage.lines ? new Set(stage.lines) : null,
    });
    if (outcome === 'interrupted') {
      return { done: false, waitMs: 100 };
    }
    const next = handedOn ? { stage: handedOn.at, upstream: chain[handedOn.at].name, lines: handedOn.lines } : null;
    await this.outages.retry(`Ending stage ${stage.stage} of a shard of batch ${batch.id}`, () =>
      this.store.finish(stage, EXECUTED_ENDING, next),
    );
    return null;
  }

  /** One turn of a native stage: submit, or poll (and cancel), or copy the results; null once it is done. */
  private async nativeTurn(
    batch: BatchEntity,
    chain: Upstream[],
    upstream: Upstream,
    stage: ProviderBatchEntity,
    fresh: boolean,
  ): Promise<ShardTurn | null> {
    const api = this.apis.for(upstream);
    try {
      switch (stage.state) {
        case 'submitting':
          return await this.submit(batch, upstream, api, stage, fresh);
        case 'running':
          return await this.poll(batch, upstream, api, stage);
        default: {
          const view = await api.retrieve(stage.providerBatchId as string);
          await this.ingestion.copy(batch, chain, upstream, api, stage, view);
          return null;
        }
      }
    } catch (error) {
      // A 4xx on a provider batch the stage holds (a key rotated, a permission taken back) is waited out as an outage
      // is: its lines are the provider's until the give-up time. At submit, a 4xx refuses the stage (see submit).
      if (!(error instanceof ProviderAwayError || error instanceof ProviderRefusedError)) {
        throw error;
      }
      if (Date.now() >= giveUpAt(batch, stage.cancelSentAt)) {
        this.logger.warn(
          `Provider ${upstream.name} has not answered for shard ${stage.shard} of batch ${batch.id} within half an hour of the batch's end (${batch.status === 'cancelling' ? 'cancelled' : 'expired'}; ${error.message}): its lines end unexecuted`,
        );
        return await this.endUncopied(upstream, stage);
      }
      const away = error instanceof ProviderAwayError ? 'is away' : 'refused a call';
      this.logger.warn(`Provider ${upstream.name} ${away} (${error.message}); shard of batch ${batch.id} waits`);
      return { done: false, waitMs: this.pollMs };
    }
  }

  private async submit(
    batch: BatchEntity,
    upstream: Upstream,
    api: ProviderBatchApi,
    stage: ProviderBatchEntity,
    fresh: boolean,
  ): Promise<ShardTurn | null> {
    const key = keyOf(stage);
    const open = batch.status === 'in_progress' && batch.expiresAt.getTime() > Date.now();
    // Sent back for the provider's quota, a stage is created again once its wait is over, but looked at every poll
    // meanwhile: a cancel or the window's end is seen as soon as it would be for a running stage.
    const quotaWaitLeft = quotaWaitLeftMs(this.pollMs, stage.quotaWaits, stage.intentAt);
    if (open && quotaWaitLeft > 0) {
      return { done: false, waitMs: Math.min(this.pollMs, quotaWaitLeft) };
    }
    const submission = this.submissionOf(batch, stage, fresh);
    try {
      // A stage written by an earlier attempt may have reached the provider before that attempt died (or before
      // its answer came back): found, it is ours to poll, and to cancel if our batch no longer wants it.
      const found = fresh
        ? null
        : await api.find(submission, stage.intentAt, (id) =>
            this.outages.retry(`Looking up provider batch ${id}`, () => this.store.recordedElsewhere(id, key)),
          );
      if (!open && !found) {
        return await this.endUncopied(upstream, stage);
      }
      if (!found && !(await this.executeChunk.budgetAllows(batch.workspaceId))) {
        await this.ingestion.overBudget(batch, upstream, stage);
        return null;
      }
      const id = found ?? (await api.submit(submission));
      if (!(await this.outages.retry(`Recording provider batch ${id}`, () => this.store.submitted(key, id)))) {
        return await this.surplus(upstream, api, stage, id);
      }
      this.logger.log(
        `Shard ${stage.shard} (stage ${stage.stage}) of batch ${batch.id}: ${found ? 'found' : 'created'} provider batch ${id} on ${upstream.name}, ${stage.requestCount} requests`,
      );
    } catch (error) {
      if (!(error instanceof ProviderRefusedError)) {
        throw error;
      }
      if (!open) {
        return await this.endUncopied(upstream, stage);
      }
      this.logger.warn(`Provider ${upstream.name} refused shard ${stage.shard} of batch ${batch.id}: ${error.message}`);
      await this.ingestion.refuse(batch, upstream, stage, error);
      return null;
    }
    // Found for a batch cancelled or past its window, the provider batch is polled at once: the poll cancels it.
    return open ? { done: false, waitMs: this.pollMs } : null;
  }

  /**
   * Another turn of this shard (its job handed on while this one still ran, its lock lost) recorded a provider batch
   * for the stage first: the one this turn has is cancelled rather than left running, untracked and billed.
   */
  private async surplus(
    upstream: Upstream,
    api: ProviderBatchApi,
    stage: ProviderBatchEntity,
    id: string,
  ): Promise<ShardTurn> {
    this.logger.warn(
      `Shard ${stage.shard} (stage ${stage.stage}) of batch ${stage.batchId} already runs another provider batch: ${id} on ${upstream.name} is cancelled`,
    );
    await api.cancel(id).catch((error: Error) => {
      this.logger.error(`Could not cancel surplus provider batch ${id} on ${upstream.name}: ${error.message}`);
    });
    return { done: false, waitMs: this.pollMs };
  }

  /**
   * Ends a stage with nothing more copied: one our batch no longer wants that never reached the provider, or one given
   * up before its provider batch ended. The finalizer reports the lines it did not copy.
   */
  private async endUncopied(upstream: Upstream, stage: ProviderBatchEntity): Promise<null> {
    await this.outages.retry(`Ending stage ${stage.stage} of a shard of batch ${stage.batchId}`, () =>
      this.store.finish(stage, nativeEnding(upstream), null),
    );
    return null;
  }

  private async poll(
    batch: BatchEntity,
    upstream: Upstream,
    api: ProviderBatchApi,
    stage: ProviderBatchEntity,
  ): Promise<ShardTurn | null> {
    const key = keyOf(stage);
    const id = stage.providerBatchId as string;
    const current =
      (await this.outages.retry(`Loading batch ${batch.id}`, () => this.batches.findById(batch.id))) ?? batch;
    const view = await api.retrieve(id);
    const pastWindow = Date.now() - current.expiresAt.getTime();
    if (view.failed?.quotaFull) {
      return await this.sendBack(batch, upstream, stage, view);
    }
    let cancelSentAt = stage.cancelSentAt;
    if (!view.ended && !cancelSentAt && (current.status !== 'in_progress' || pastWindow >= 0)) {
      await api.cancel(id);
      await this.outages.retry(`Recording the cancel of provider batch ${id}`, () => this.store.cancelSent(key));
      cancelSentAt = new Date();
      this.logger.log(
        `Cancelled provider batch ${id} of batch ${batch.id} (${current.status}, window ${pastWindow >= 0 ? 'over' : 'open'})`,
      );
    }
    const givenUp = !view.ended && Date.now() >= giveUpAt(current, cancelSentAt);
    if (givenUp) {
      this.logger.warn(
        `Provider batch ${id} has not ended half an hour after it was cancelled (batch ${batch.id} ${current.status === 'cancelling' ? 'cancelled' : 'expired'}): its lines end unexecuted`,
      );
    }
    await this.outages.retry(`Recording what provider batch ${id} reports`, () =>
      this.store.report(
        key,
        { status: view.status, completed: view.completed, failed: view.failedLines },
        view.ended || givenUp,
      ),
    );
    if (givenUp) {
      return await this.endUncopied(upstream, stage);
    }
    if (view.ended) {
      return null;
    }
    const waitMs = nextPollMs({
      pollMs: this.pollMs,
      requestCount: stage.requestCount,
      done: view.completed + view.failedLines,
      elapsedMs: Date.now() - (stage.submittedAt ?? stage.intentAt).getTime(),
      finishing: view.finishing,
    });
    return { done: false, waitMs };
  }

  /**
   * The provider turned the stage's batch down for its quota (nothing of it ran): the stage goes back to be created
   * again, its input file reused, once some of the provider's other batches may have ended (see `submit`).
   */
  private async sendBack(
    batch: BatchEntity,
    upstream: Upstream,
    stage: ProviderBatchEntity,
    view: ProviderBatchView,
  ): Promise<ShardTurn | null> {
    const waits = await this.outages.retry(`Sending back shard ${stage.shard} of batch ${batch.id}`, () =>
      this.store.sendBack(keyOf(stage), view.id),
    );
    if (waits === null) {
      return null;
    }
    this.logger.warn(
      `Provider ${upstream.name} turned down batch ${view.id} (shard ${stage.shard} of batch ${batch.id}) for its quota (${view.failed?.message}): created again in ${Math.round(quotaWaitMs(this.pollMs, waits) / 1000)} s`,
    );
    return { done: false, waitMs: this.pollMs };
  }

  private submissionOf(batch: BatchEntity, stage: ProviderBatchEntity, fresh: boolean): ProviderSubmission {
    const only = stage.lines ? new Set(stage.lines) : null;
    const window = { firstLine: stage.firstLine, start: stage.startByte, end: stage.endByte };
    const { input, customIds } = this;
    return {
      endpoint: batch.endpoint,
      completionWindow: batch.completionWindow,
      tag: keyOf(stage),
      requestCount: stage.requestCount,
      fileId: stage.providerFileId,
      uploadedSince: fresh ? null : stage.intentAt,
      onFileUploaded: (fileId) =>
        this.outages.retry(`Recording provider file ${fileId}`, () => this.store.fileUploaded(keyOf(stage), fileId)),
      async *lines() {
        const requests = await input.requests(batch, window, (lineNumber) => !only || only.has(lineNumber));
        if (requests) {
          yield* customIds.noting(batch, stage, requests);
        }
      },
    };
  }
}

const rangeOf = (stage: ProviderBatchEntity): ChunkRange => ({
  index: stage.shard,
  firstLine: stage.firstLine,
  lastLine: stage.lastLine,
  lineCount: stage.lastLine - stage.firstLine + 1,
  startByte: stage.startByte,
  endByte: stage.endByte,
});

export type { ProviderBatchView };
