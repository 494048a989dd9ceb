import { Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { AppError, ErrorCode, FileStorage } from '@app/core';
import { ApiEnvironment } from '../../config/api-environment';
import { FilesService } from '../../files/files.service';
import type { TokenTally } from './batch-estimator';
import { PriceTable } from './price-table';
import { TallyThreads } from './tally-threads';

export interface BatchEstimate {
  inputFileId: string;
  endpoint: string;
  tally: TokenTally;
  modelCosts: Map<string, number | null>;
  costUsd: number | null;
}

/** How much a batch of this file would cost, read from the file alone: nothing runs, nothing is stored. */
@Injectable()
export class BatchEstimateService {
  constructor(
    private readonly files: FilesService,
    private readonly prices: PriceTable,
    private readonly env: ApiEnvironment,
    private readonly threads: TallyThreads,
    private readonly storage: FileStorage,
  ) {}

  /** The estimate of a file that validation would accept; otherwise 400 naming the rule and line(s) it breaks. */
  async estimate(workspaceId: string, inputFileId: string, endpoint: string): Promise<BatchEstimate> {
    const tally = await this.tally(workspaceId, inputFileId, endpoint);
    if (tally.problems.length > 0) {
      const [first] = tally.problems;
      const more = tally.problems.length > 1 ? ` (and ${tally.problems.length - 1} more problem(s))` : '';
      throw new AppError(
        ErrorCode.InvalidBatchFile,
        `A batch of this file would fail validation: ${first.message}${more}`,
        first.param ?? 'input_file_id',
        first.code,
      );
    }
    const modelCosts = new Map(
      [...tally.models].map(([model, figures]) => [
        model,
        this.prices.cost(model, figures.inputTokens, figures.maxOutputTokens),
      ]),
    );
    return { inputFileId, endpoint, tally, modelCosts, costUsd: PriceTable.total([...modelCosts.values()]) };
  }

  /**
   * Counts the valid requests of the file, streamed, on an estimate thread, and lists what validation would report.
   * A file of another workspace does not exist (404).
   */
  tally(workspaceId: string, inputFileId: string, endpoint: string): Promise<TokenTally> {
    return this.count(endpoint, () => this.openBatchInput(workspaceId, inputFileId));
  }

  /** The same count of an input stored for a batch but not registered as a file yet (a retry's input). */
  tallyStored(storageKey: string, endpoint: string): Promise<TokenTally> {
    return this.count(endpoint, () => this.storage.read(storageKey));
  }

  private count(endpoint: string, open: () => Promise<Readable>): Promise<TokenTally> {
    const rules = {
      endpoint,
      maxRequests: this.env.BATCH_MAX_REQUESTS,
      defaultMaxOutputTokens: this.env.ESTIMATE_DEFAULT_MAX_OUTPUT_TOKENS,
    };
    return this.threads.tally(rules, open);
  }

  private async openBatchInput(workspaceId: string, inputFileId: string): Promise<Readable> {
    const { file, content } = await this.files.openContent(workspaceId, inputFileId);
    if (file.purpose !== 'batch') {
      content.destroy();
      throw new AppError(
        ErrorCode.InvalidRequest,
        `File ${inputFileId} has purpose '${file.purpose}'; a batch needs a file uploaded with purpose 'batch'.`,
        'input_file_id',
      );
    }
    return content;
  }
}
