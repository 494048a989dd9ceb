// Not '@app/core': this runs on estimate threads (tally.thread.ts), which load only what they use.
import { BatchInputCheck, checkedRequests } from '@app/core/batches/batch-input-check';
import type { BatchErrorItem } from '@app/core/batches/batch.entity';
import type { RawLine } from '@app/core/jsonl/line-splitter';
import { countInputTokens, outputCeiling, type Tokenizer, tokenizerFor } from './token-counting';

export interface ModelTally {
  tokenizer: string;
  requests: number;
  inputTokens: number;
  maxOutputTokens: number;
}

export interface TokenTally {
  requestCount: number;
  inputTokens: number;
  maxOutputTokens: number;
  /** Requests to a generating endpoint without max_tokens & co: counted with the default ceiling. */
  requestsWithoutCeiling: number;
  models: Map<string, ModelTally>;
  /** What validation would report (up to 100, each with its line); empty when the file would pass. */
  problems: BatchErrorItem[];
}

export interface EstimateRules {
  endpoint: string;
  maxRequests: number;
  /** The output ceiling assumed for a request that states none. */
  defaultMaxOutputTokens: number;
}

/**
 * Reads the input once, line by line, applying the batch input rules the worker's validation applies, and counts
 * each valid request's input tokens and output ceiling by model. One rule differs: models may differ between
 * lines, each counted with its own tokenizer (a batch that runs still needs one model; validation reports that).
 */
export async function tallyTokens(lines: AsyncIterable<RawLine>, rules: EstimateRules): Promise<TokenTally> {
  const check = new BatchInputCheck();
  const tally: TokenTally = {
    requestCount: 0,
    inputTokens: 0,
    maxOutputTokens: 0,
    requestsWithoutCeiling: 0,
    models: new Map(),
    problems: check.problems,
  };
  const tokenizers = new Map<string, Tokenizer>();
  for await (const { request } of checkedRequests(lines, { ...rules, oneModel: false }, check)) {
    const model = request.body.model as string;
    let tokenizer = tokenizers.get(model);
    if (!tokenizer) {
      tokenizer = tokenizerFor(model);
      tokenizers.set(model, tokenizer);
    }
    const input = countInputTokens(rules.endpoint, request.body, tokenizer);
    const ceiling = outputCeiling(rules.endpoint, request.body, rules.defaultMaxOutputTokens);
    const perModel = tally.models.get(model) ?? {
      tokenizer: tokenizer.label,
      requests: 0,
      inputTokens: 0,
      maxOutputTokens: 0,
    };
    perModel.requests++;
    perModel.inputTokens += input;
    perModel.maxOutputTokens += ceiling.tokens;
    tally.models.set(model, perModel);
    tally.inputTokens += input;
    tally.maxOutputTokens += ceiling.tokens;
    if (!ceiling.stated) {
      tally.requestsWithoutCeiling++;
    }
  }
  tally.requestCount = check.requestCount;
  return tally;
}
