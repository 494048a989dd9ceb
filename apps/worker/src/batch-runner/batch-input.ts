import {
  type BatchErrorItem,
  BatchInputErrorCode,
  batchProblem,
  type ChunkRange,
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

export interface InputRules {
  endpoint: string;
  maxRequests: number;
  chunkSize: number;
}

export interface InputPlan {
  model: string | null;
  total: number;
  chunks: ChunkRange[];
  errors: BatchErrorItem[];
}

/**
 * Reads the whole input once: checks every line (collecting up to 100 problems, each with its line),
 * finds the batch's single model, and cuts the lines into chunks located by byte range.
 */
export async function planInput(lines: AsyncIterable<RawLine>, rules: InputRules): Promise<InputPlan> {
  const errors: BatchErrorItem[] = [];
  const seen = new Set<string>();
  const chunks: ChunkRange[] = [];
  let model: string | null = null;
  let total = 0;
  let open: ChunkRange | null = null;
  const report = (item: BatchErrorItem) => {
    if (errors.length < MAX_VALIDATION_ERRORS) {
      errors.push(item);
    }
  };

  try {
    for await (const line of lines) {
      const parsed = parseJsonLine(line.bytes);
      if (parsed.kind === 'blank') {
        continue;
      }
      total++;
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
      } else {
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
        const lineModel = request.body.model as string;
        model ??= lineModel;
        if (lineModel !== model) {
          report(
            batchProblem(
              BatchInputErrorCode.ModelMismatch,
              `Line ${line.number}: the model ${quoted(lineModel)} differs from the batch's model ${quoted(model)}. A batch uses one model.`,
              line.number,
              'body.model',
            ),
          );
        }
      }
      if (total === rules.maxRequests + 1) {
        report(
          batchProblem(
            BatchInputErrorCode.TooManyTasks,
            tooManyRequestsMessage(rules.maxRequests, line.number),
            line.number,
          ),
        );
      }
      if (!open || open.lineCount >= rules.chunkSize) {
        open = {
          index: chunks.length,
          firstLine: line.number,
          lastLine: line.number,
          lineCount: 0,
          startByte: line.start,
          endByte: line.end,
        };
        chunks.push(open);
      }
      open.lineCount++;
      open.lastLine = line.number;
      open.endByte = line.end;
    }
  } catch (error) {
    if (!(error instanceof LineTooLongError)) {
      throw error;
    }
    report(batchProblem(BatchInputErrorCode.InvalidJsonLine, error.message, error.lineNumber));
  }
  if (total === 0 && errors.length === 0) {
    report(
      batchProblem(
        BatchInputErrorCode.EmptyFile,
        'The input file is empty. Please ensure that the batch contains at least one request.',
        null,
      ),
    );
  }
  return { model, total, chunks, errors };
}
