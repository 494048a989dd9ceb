import { describeInvalidLine, parseInputLine } from '../jsonl/json-line';
import { LineTooLongError, type RawLine } from '../jsonl/line-splitter';
import {
  BatchInputErrorCode,
  batchProblem,
  type BatchRequestLine,
  checkRequestLine,
  isBatchProblem,
  MAX_VALIDATION_ERRORS,
  quoted,
  tooManyRequestsMessage,
} from './batch-input-rules';
import type { BatchErrorItem } from './batch.entity';
import { SeenCustomIds } from './seen-custom-ids';

export interface BatchInputCheckRules {
  endpoint: string;
  maxRequests: number;
  /** Report a line whose model differs from the first one's (a batch runs one model; an estimate counts each). */
  oneModel: boolean;
}

/** What a walk through a batch input found: its requests (non-blank lines) and its problems. */
export class BatchInputCheck {
  requestCount = 0;
  /** At most MAX_VALIDATION_ERRORS, each with its line; empty when the input would pass validation. */
  readonly problems: BatchErrorItem[] = [];
  /** The first valid request's model. */
  model: string | null = null;

  report(problem: BatchErrorItem): void {
    if (this.problems.length < MAX_VALIDATION_ERRORS) {
      this.problems.push(problem);
    }
  }
}

/**
 * The batch input rules applied to a whole input, line by line, as batch validation applies them: every problem is
 * reported to `check` with its line (invalid JSON, a broken line rule, a duplicate custom_id, a second model, one
 * request too many, a line too long, an empty file), and every valid request is yielded with its line. Validation
 * (worker) and estimates (api) both walk an input with it, so both report the same problems.
 */
export async function* checkedRequests(
  lines: AsyncIterable<RawLine>,
  rules: BatchInputCheckRules,
  check: BatchInputCheck,
): AsyncGenerator<{ line: RawLine; request: BatchRequestLine }> {
  const seen = new SeenCustomIds();
  try {
    for await (const line of lines) {
      const parsed = parseInputLine(line.bytes);
      if (parsed.kind === 'blank') {
        continue;
      }
      check.requestCount++;
      const request =
        parsed.kind === 'invalid'
          ? batchProblem(
              BatchInputErrorCode.InvalidJsonLine,
              describeInvalidLine(line.number, parsed.reason),
              line.number,
            )
          : checkRequestLine(parsed.value, line.number, rules.endpoint);
      const valid = !isBatchProblem(request) && checkRequest(request, line.number, rules, check, seen);
      if (isBatchProblem(request)) {
        check.report(request);
      }
      if (check.requestCount === rules.maxRequests + 1) {
        check.report(
          batchProblem(
            BatchInputErrorCode.TooManyTasks,
            tooManyRequestsMessage(rules.maxRequests, line.number),
            line.number,
          ),
        );
      }
      if (valid) {
        yield { line, request };
      }
    }
  } catch (error) {
    if (!(error instanceof LineTooLongError)) {
      throw error;
    }
    check.report(batchProblem(BatchInputErrorCode.InvalidJsonLine, error.message, error.lineNumber));
  }
  if (check.requestCount === 0 && check.problems.length === 0) {
    check.report(
      batchProblem(
        BatchInputErrorCode.EmptyFile,
        'The input file is empty. Please ensure that the batch contains at least one request.',
        null,
      ),
    );
  }
}

/** The rules across lines: each custom_id once, and (for a batch) one model. */
function checkRequest(
  request: BatchRequestLine,
  lineNumber: number,
  rules: BatchInputCheckRules,
  check: BatchInputCheck,
  seen: SeenCustomIds,
): boolean {
  let valid = true;
  if (!seen.add(request.customId)) {
    check.report(
      batchProblem(
        BatchInputErrorCode.DuplicateCustomId,
        `Line ${lineNumber}: the custom_id ${quoted(request.customId)} is already used by another request.`,
        lineNumber,
        'custom_id',
      ),
    );
    valid = false;
  }
  const model = request.body.model as string;
  check.model ??= model;
  if (rules.oneModel && model !== check.model) {
    check.report(
      batchProblem(
        BatchInputErrorCode.ModelMismatch,
        `Line ${lineNumber}: the model ${quoted(model)} differs from the batch's model ${quoted(check.model)}. A batch uses one model.`,
        lineNumber,
        'body.model',
      ),
    );
    valid = false;
  }
  return valid;
}
