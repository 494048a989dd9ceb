import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AppError, type BatchEntity, BatchRepository, ErrorCode, type NewBatchFile } from '@app/core';
import { type TokenEstimate, WorkspaceBudget } from '../budgets/workspace-budget.service';
import { ApiEnvironment } from '../config/api-environment';
import { BatchEstimateService } from './estimate/batch-estimate.service';

/**
 * Whether a workspace may have a new batch: within its open-batch limit and its monthly token budget. Both are
 * checked inside the batch's create, under the lock BatchRepository.create takes on the workspace's row, so two
 * creates at the limit cannot both pass, on any replica. Without a budget nothing is estimated (reading a large
 * file costs time) and the batch reserves nothing.
 */
@Injectable()
export class BatchAdmission {
  constructor(
    private readonly batches: BatchRepository,
    private readonly budget: WorkspaceBudget,
    private readonly estimates: BatchEstimateService,
    private readonly env: ApiEnvironment,
  ) {}

  /** Stores the batch, with the input file made for it if any, if the workspace may have it. */
  async admit(batch: BatchEntity, inputFile?: NewBatchFile): Promise<BatchEntity> {
    // Estimated before the lock: the file is read once, without holding up the workspace's other creates.
    let estimate = (await this.budget.hasBudget(batch.workspaceId)) ? await this.estimate(batch, inputFile) : null;
    return this.batches.create(batch, {
      inputFile,
      check: async (tx) => {
        await this.checkOpenBatchLimit(batch.workspaceId, tx);
        const standing = await this.budget.standing(batch.workspaceId, tx);
        if (standing.budget !== null) {
          // A budget set while this file was being read: estimate now, under the lock.
          estimate ??= await this.estimate(batch, inputFile);
          this.budget.checkFits(standing, estimate);
        }
        batch.estimatedTokens = estimate?.tokens ?? null;
      },
    });
  }

  /** MAX_OPEN_BATCHES_PER_WORKSPACE. */
  private async checkOpenBatchLimit(workspaceId: string, tx: EntityManager): Promise<void> {
    const limit = this.env.MAX_OPEN_BATCHES_PER_WORKSPACE;
    if (limit === undefined) {
      return;
    }
    const open = await this.batches.countOpen(workspaceId, tx);
    if (open >= limit) {
      throw new AppError(
        ErrorCode.OpenBatchLimitExceeded,
        `This workspace already has ${open} open batches, the most it may have at once (${limit}). Wait for one to complete, or cancel one, before creating another.`,
      );
    }
  }

  /** Input tokens + output ceiling of the file's valid lines (invalid ones fail validation and use nothing). */
  private async estimate(batch: BatchEntity, inputFile: NewBatchFile | undefined): Promise<TokenEstimate> {
    const tally = inputFile
      ? await this.estimates.tallyStored(inputFile.storageKey, batch.endpoint)
      : await this.estimates.tally(batch.workspaceId, batch.inputFileId, batch.endpoint);
    return {
      tokens: tally.inputTokens + tally.maxOutputTokens,
      input: tally.inputTokens,
      output: tally.maxOutputTokens,
    };
  }
}
