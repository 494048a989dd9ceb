import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { BatchEntity, BatchInputErrorCode, BatchTransitions, type ChunkRange } from '@app/core';
import { WorkerEnvironment } from '../../config/worker-environment';
import { OutageGuard } from '../../infrastructure/outage-guard';
import { type InputPlan, planInput } from '../batch-input';
import { BatchInputReader } from '../batch-input-reader';

/**
 * validating → in_progress (or failed): reads the input once, checks every line, and returns the
 * chunks to execute. A batch already in progress (a restart after a crash) gets its chunks again.
 */
@Injectable()
export class ValidateInputStep {
  private readonly logger = new Logger(ValidateInputStep.name);

  constructor(
    @InjectRepository(BatchEntity) private readonly batches: Repository<BatchEntity>,
    private readonly input: BatchInputReader,
    private readonly transitions: BatchTransitions,
    private readonly outages: OutageGuard,
    private readonly env: WorkerEnvironment,
  ) {}

  run(batchId: string): Promise<ChunkRange[]> {
    return this.outages.retry(`Validating batch ${batchId}`, () => this.validate(batchId));
  }

  private async validate(batchId: string): Promise<ChunkRange[]> {
    const batch = await this.batches.findOneBy({ id: batchId });
    if (!batch || (batch.status !== 'validating' && batch.status !== 'in_progress')) {
      return [];
    }
    if (batch.status === 'validating' && batch.expiresAt.getTime() <= Date.now()) {
      return [];
    }
    const plan = await this.plan(batch);
    if (batch.status === 'in_progress') {
      return plan.chunks;
    }
    if (plan.errors.length > 0) {
      await this.transitions.move(batch.id, 'failed', { errors: plan.errors });
      this.logger.log(`Batch ${batchId} failed validation with ${plan.errors.length} error(s)`);
      return [];
    }
    const started = await this.transitions.move(batch.id, 'in_progress', {
      model: plan.model,
      requestTotal: plan.total,
    });
    this.logger.log(
      `Batch ${batchId} validated: ${plan.total} requests in ${plan.chunks.length} chunks${started ? '' : ' (no longer validating: not started)'}`,
    );
    return started ? plan.chunks : [];
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
      chunkSize: this.env.BATCH_CHUNK_SIZE,
    });
  }
}
