import {
  type BatchErrorItem,
  BatchInputErrorCode,
  batchProblem,
  checkRequestLine,
  describeInvalidLine,
  isBatchProblem,
  LineTooLongError,
  MAX_VALIDATION_ERRORS,
  parseJsonLine,
  quoted,
  type RawLine,
  tooManyRequestsMessage,
} from '@app/core';
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
  const tally: TokenTally = {
    requestCount: 0,
    inputTokens: 0,
    maxOutputTokens: 0,
    requestsWithoutCeiling: 0,
    models: new Map(),
    problems: [],
  };
  const report = (item: BatchErrorItem) => {
    if (tally.problems.length < MAX_VALIDATION_ERRORS) {
      tally.problems.push(item);
    }
  };
  const seen = new Set<string>();
  const tokenizers = new Map<string, Tokenizer>();

  try {
    for await (const line of lines) {
      const parsed = parseJsonLine(line.bytes);
      if (parsed.kind === 'blank') {
        continue;
      }
      tally.requestCount++;
      if (tally.requestCount === rules.maxRequests + 1) {
        report(
          batchProblem(
            BatchInputErrorCode.TooManyTasks,
            tooManyRequestsMessage(rules.maxRequests, line.number),
            line.number,
          ),
        );
      }
      if (parsed.kind === 'invalid') {
        report(
          batchProblem(
            BatchInputErrorCode.InvalidJsonLine,
            describeInvalidLine(line.number, parsed.reason),
            line.number,
          ),
        );
        continue;
      }
      const request = checkRequestLine(parsed.value, line.number, rules.endpoint);
      if (isBatchProblem(request)) {
        report(request);
        continue;
      }
      if (seen.has(request.customId)) {
        report(
          batchProblem(
            BatchInputErrorCode.DuplicateCustomId,
            `Line ${line.number}: the custom_id ${quoted(request.customId)} is already used by another request.`,
            line.number,
            'custom_id',
          ),
        );
      }
      seen.add(request.customId);

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
  } catch (error) {
    if (!(error instanceof LineTooLongError)) {
      throw error;
    }
    report(batchProblem(BatchInputErrorCode.InvalidJsonLine, error.message, error.lineNumber));
  }
  if (tally.requestCount === 0 && tally.problems.length === 0) {
    report(
      batchProblem(
        BatchInputErrorCode.EmptyFile,
        'The input file is empty. Please ensure that the batch contains at least one request.',
        null,
      ),
    );
  }
  return tally;
}
