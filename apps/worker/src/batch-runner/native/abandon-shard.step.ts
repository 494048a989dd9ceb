import { Injectable, Logger } from '@nestjs/common';
import { ProviderBatchRepository, type StageEnding } from '@app/core';
import { ProviderBatchApis } from '../../providers/provider-batch-apis';
import type { Upstream } from '../../upstream/upstream-routes';
import { UpstreamRoutes } from '../../upstream/upstream-routes';
import { EXECUTED_ENDING, nativeEnding } from './shard-ingestion';

/**
 * A shard whose job has failed for good (its last attempt): its stage still open ends, and a provider batch that stage
 * holds is cancelled first, so that it does not run on, untracked and billed. The finalizer reports the lines it had
 * not copied as not executed. Never throws: the job's own error is what it fails with.
 */
@Injectable()
export class AbandonShardStep {
  private readonly logger = new Logger(AbandonShardStep.name);

  constructor(
    private readonly store: ProviderBatchRepository,
    private readonly apis: ProviderBatchApis,
    private readonly routes: UpstreamRoutes,
  ) {}

  async run(batchId: string, shard: number, cause: Error): Promise<void> {
    try {
      const stage = (await this.store.stages(batchId, shard)).find((row) => row.state !== 'done');
      if (!stage) {
        return;
      }
      const upstream = this.routes.named(stage.upstream);
      const providerBatchId = stage.state === 'running' ? stage.providerBatchId : null;
      let cancelled = false;
      if (providerBatchId && upstream?.batch === 'native') {
        cancelled = await this.apis
          .for(upstream)
          .cancel(providerBatchId)
          .then(() => true)
          .catch((error: Error) => {
            this.logger.warn(
              `Could not cancel provider batch ${providerBatchId} on ${upstream.name}: ${error.message}`,
            );
            return false;
          });
      }
      await this.store.finish(stage, endingOf(upstream), null);
      this.logger.error(
        `Shard ${shard} of batch ${batchId} failed for good (${cause.message}): stage ${stage.stage} ended` +
          (cancelled ? `, provider batch ${providerBatchId} cancelled` : '') +
          '; the lines it had not copied end unexecuted',
      );
    } catch (error) {
      this.logger.error(`Could not end shard ${shard} of batch ${batchId}: ${(error as Error).message}`);
    }
  }
}

/** How a stage given up ends; one whose upstream left UPSTREAMS_FILE is billed at the batch price and owes nothing. */
const endingOf = (upstream: Upstream | undefined): StageEnding =>
  !upstream
    ? { native: true, discardFiles: false }
    : upstream.batch === 'native'
      ? nativeEnding(upstream)
      : EXECUTED_ENDING;
