import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { type BatchEntity, UsageLedgerEntity } from '@app/core';

/** Bills a finished batch to its workspace: one ledger row per batch and model, written once. */
@Injectable()
export class UsageLedgerWriter {
  /** Runs inside the final transaction; the unique (batch, model) key makes a repeated finalize bill nothing. */
  async bill(manager: EntityManager, batch: BatchEntity): Promise<void> {
    if (!batch.model) {
      return;
    }
    await manager
      .createQueryBuilder()
      .insert()
      .into(UsageLedgerEntity)
      .values({
        workspaceId: batch.workspaceId,
        batchId: batch.id,
        model: batch.model,
        requestCount: batch.requestCompleted,
        inputTokens: batch.inputTokens,
        cachedTokens: batch.cachedTokens,
        outputTokens: batch.outputTokens,
        reasoningTokens: batch.reasoningTokens,
      })
      .orIgnore()
      .execute();
  }
}
