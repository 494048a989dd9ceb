import { Injectable, Logger } from '@nestjs/common';
import {
  type BatchEntity,
  type BatchErrorItem,
  BatchInputErrorCode,
  BatchRepository,
  BatchTransitions,
  type ChunkRange,
} from '@app/core';
import { WorkerEnvironment } from '../../config/worker-environment';
import { OutageGuard } from '../../infrastructure/outage-guard';
import { TranslationError, toMessagesParams } from '../../providers/anthropic/messages-translation';
import { UpstreamRoutes } from '../../upstream/upstream-routes';
import { type InputCut, type InputPlan, planInput } from '../batch-input';
import { BatchInputReader } from '../batch-input-reader';

/** The ranges of a validated batch: chunks to execute, or shards for its native upstream's Batch API. */
export interface BatchWork {
  ranges: ChunkRange[];
  native: boolean;
}

const NO_WORK: BatchWork = { ranges: [], native: false };

/**
 * validating → in_progress (or failed): reads the input once, checks every line, and returns the
 * ranges to run. A batch already in progress (a restart after a crash) gets its ranges again.
 */
@Injectable()
export class ValidateInputStep {
  private readonly logger = new Logger(ValidateInputStep.name);

  constructor(
    private readonly batches: BatchRepository,
    private readonly input: BatchInputReader,
    private readonly transitions: BatchTransitions,
    private readonly outages: OutageGuard,
    private readonly env: WorkerEnvironment,
    private readonly routes: UpstreamRoutes,
  ) {}

  run(batchId: string): Promise<BatchWork> {
    return this.outages.retry(`Validating batch ${batchId}`, () => this.validate(batchId));
  }

  private async validate(batchId: string): Promise<BatchWork> {
    const batch = await this.batches.findById(batchId);
    if (!batch || (batch.status !== 'validating' && batch.status !== 'in_progress')) {
      return NO_WORK;
    }
    if (batch.status === 'validating' && batch.expiresAt.getTime() <= Date.now()) {
      return NO_WORK;
    }
    const plan = await this.plan(batch);
    const work = { ranges: plan.chunks, native: plan.model !== null && this.routes.for(plan.model).batch === 'native' };
    if (batch.status === 'in_progress') {
      return work;
    }
    if (plan.errors.length > 0) {
      await this.transitions.move(batch.id, 'failed', { errors: plan.errors });
      this.logger.log(`Batch ${batchId} failed validation with ${plan.errors.length} error(s)`);
      return NO_WORK;
    }
    const started = await this.transitions.move(batch.id, 'in_progress', {
      model: plan.model,
      requestTotal: plan.total,
    });
    this.logger.log(
      `Batch ${batchId} validated: ${plan.total} requests in ${plan.chunks.length} ${work.native ? 'provider batch shards' : 'chunks'}${started ? '' : ' (no longer validating: not started)'}`,
    );
    return started ? work : NO_WORK;
  }

  private async plan(batch: BatchEntity): Promise<InputPlan> {
    const lines = await this.input.open(batch);
    if (!lines) {
      const message = `The input file ${batch.inputFileId} no longer exists.`;
      return {
        model: null,
        total: 0,
        chunks: [],
        errors: [{ code: BatchInputErrorCode.InvalidFile, message, param: 'input_file_id', line: null }],
      };
    }
    return planInput(lines, {
      endpoint: batch.endpoint,
      maxRequests: this.env.BATCH_MAX_REQUESTS,
      cutFor: (model) => this.cutFor(model, batch.endpoint),
    });
  }

  /** Chunks for an executing upstream; shards within a native one's caps, with what its protocol cannot take. */
  private cutFor(model: string, endpoint: string): InputCut {
    const upstream = this.routes.for(model);
    if (upstream.batch === 'execute') {
      return { maxLines: this.env.BATCH_CHUNK_SIZE };
    }
    const cut = { maxLines: upstream.maxBatchRequests, maxBytes: upstream.maxBatchBytes };
    if (upstream.protocol !== 'anthropic') {
      return cut;
    }
    return { ...cut, refuse: (request, line) => anthropicProblem(request.body, line, endpoint, this.env) };
  }
}

/** Anthropic's Message Batches take chat completions only, each one translatable to Messages params. */
function anthropicProblem(
  body: Record<string, unknown>,
  line: number,
  endpoint: string,
  env: WorkerEnvironment,
): BatchErrorItem | null {
  if (endpoint !== '/v1/chat/completions') {
    return {
      code: BatchInputErrorCode.InvalidRequest,
      message: `Line ${line}: the model ${JSON.stringify(body.model)} is served by Anthropic's Message Batches, which take only /v1/chat/completions, not ${endpoint}.`,
      param: 'url',
      line,
    };
  }
  try {
    toMessagesParams(body, env.ANTHROPIC_DEFAULT_MAX_TOKENS);
    return null;
  } catch (error) {
    if (!(error instanceof TranslationError)) {
      throw error;
    }
    return { code: BatchInputErrorCode.InvalidRequest, message: `Line ${line}: ${error.message}`, param: 'body', line };
  }
}
