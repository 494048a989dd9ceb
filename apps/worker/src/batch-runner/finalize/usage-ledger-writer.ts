import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import {
  type BatchEntity,
  type BatchPricedUsage,
  ProviderBatchRepository,
  UsageLedgerRepository,
  type UsagePricing,
} from '@app/core';

type Usage = BatchPricedUsage;

/**
 * Bills a finished batch to its workspace: one ledger row per batch, model and pricing, written once. Lines
 * a provider's Batch API ran are billed at its batch price; the rest (executed, or re-run online as a
 * fallback) at the online price.
 */
@Injectable()
export class UsageLedgerWriter {
  constructor(
    private readonly providerBatches: ProviderBatchRepository,
    private readonly ledger: UsageLedgerRepository,
  ) {}

  /** Runs inside the final transaction; the unique (batch, model, pricing) key makes a repeated finalize bill nothing. */
  async bill(manager: EntityManager, batch: BatchEntity): Promise<void> {
    if (!batch.model) {
      return;
    }
    const total: Usage = {
      requestCount: batch.requestCompleted,
      inputTokens: batch.inputTokens,
      cachedTokens: batch.cachedTokens,
      outputTokens: batch.outputTokens,
      reasoningTokens: batch.reasoningTokens,
    };
    const native = await this.providerBatches.batchPricedUsage(batch.id, manager);
    const online: Usage = {
      requestCount: total.requestCount - native.requestCount,
      inputTokens: total.inputTokens - native.inputTokens,
      cachedTokens: total.cachedTokens - native.cachedTokens,
      outputTokens: total.outputTokens - native.outputTokens,
      reasoningTokens: total.reasoningTokens - native.reasoningTokens,
    };
    // An executed batch keeps its one row even when nothing succeeded, as before native batches.
    const rows: { pricing: UsagePricing; usage: Usage }[] = [];
    if (native.requestCount > 0) {
      rows.push({ pricing: 'batch', usage: native });
    }
    if (online.requestCount > 0 || native.requestCount === 0) {
      rows.push({ pricing: 'online', usage: online });
    }
    await this.ledger.record(
      manager,
      rows.map(({ pricing, usage }) => ({
        workspaceId: batch.workspaceId,
        batchId: batch.id,
        model: batch.model as string,
        pricing,
        ...usage,
      })),
    );
  }
}
