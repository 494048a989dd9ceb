import { Injectable, Logger } from '@nestjs/common';
import { keyOf, type ProviderBatchEntity, ProviderBatchRepository } from '@app/core';
import { ProviderBatchApis } from '../../providers/provider-batch-apis';
import { ProviderAwayError, ProviderRefusedError } from '../../providers/provider-http';
import { UpstreamRoutes } from '../../upstream/upstream-routes';
import type { Sweep } from '../sweep';

/** Stages whose provider copies a run deletes at most, a page at a time. */
const DISCARDS_PER_RUN = 500;
const PAGE = 100;

/**
 * How long after its stage ended a provider batch still running (its stage given up while it was cancelling) keeps
 * the stage's debt: its output and error files only exist once it ends, and a Message Batch can only be deleted then.
 */
const WAIT_FOR_END_MS = 24 * 3_600_000;

type Discarded = 'done' | 'away' | 'not_ended';

/**
 * What an ended native stage left at its provider (input file, output and error files, or a Message Batch) is
 * deleted here rather than in the stage's last turn, so the batch's finalize never waits on the provider's deletes.
 * A provider batch given up before it ended keeps them owed until it ends (its files only exist then), for a day at
 * most. A provider away keeps them owed for the next run (its other stages are skipped this run); one that refuses
 * (a 404: already gone) or an upstream no longer configured ends the debt, with a warning.
 */
@Injectable()
export class DiscardProviderFilesSweep implements Sweep {
  private readonly logger = new Logger(DiscardProviderFilesSweep.name);

  constructor(
    private readonly store: ProviderBatchRepository,
    private readonly apis: ProviderBatchApis,
    private readonly routes: UpstreamRoutes,
  ) {}

  async run(): Promise<void> {
    const away = new Set<string>();
    // Stages still owed because their provider batch has not ended: looked at once a run.
    const notEnded = new Set<string>();
    let left = DISCARDS_PER_RUN;
    while (left > 0) {
      const owed = (await this.store.owingDiscard(Math.min(left, PAGE) + notEnded.size, [...away])).filter(
        (stage) => !notEnded.has(idOf(stage)),
      );
      if (owed.length === 0) {
        return;
      }
      for (const stage of owed) {
        left--;
        if (away.has(stage.upstream)) {
          continue;
        }
        const outcome = await this.discard(stage);
        if (outcome === 'away') {
          away.add(stage.upstream);
        } else if (outcome === 'not_ended') {
          notEnded.add(idOf(stage));
        }
      }
    }
  }

  /** `away`: the provider is away; `not_ended`: its batch has not ended yet. Either way the stage stays owed. */
  private async discard(stage: ProviderBatchEntity): Promise<Discarded> {
    const what = `shard ${stage.shard} stage ${stage.stage} of batch ${stage.batchId}`;
    const upstream = this.routes.named(stage.upstream);
    try {
      if (!upstream) {
        this.logger.warn(`Upstream ${stage.upstream} is no longer configured: what ${what} left there stays`);
      } else {
        const api = this.apis.for(upstream);
        const view = stage.providerBatchId ? await api.retrieve(stage.providerBatchId) : null;
        if (view && !view.ended && Date.now() - (stage.endedAt?.getTime() ?? 0) < WAIT_FOR_END_MS) {
          return 'not_ended';
        }
        await api.discard(view, stage.providerFileId);
      }
    } catch (error) {
      if (error instanceof ProviderAwayError) {
        this.logger.warn(`Provider ${stage.upstream} is away (${error.message}): ${what} is tried again next run`);
        return 'away';
      }
      if (!(error instanceof ProviderRefusedError)) {
        throw error;
      }
      this.logger.warn(`Provider ${stage.upstream} would not delete what ${what} left: ${error.message}`);
    }
    await this.store.discarded(keyOf(stage));
    return 'done';
  }
}

const idOf = (stage: ProviderBatchEntity): string => `${stage.batchId}/${stage.shard}/${stage.stage}`;
