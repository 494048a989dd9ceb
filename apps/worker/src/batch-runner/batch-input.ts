import {
  type BatchErrorItem,
  type ChunkRange,
  describeInvalidLine,
  LineTooLongError,
  parseJsonLine,
  type RawLine,
} from '@app/core';

export const MAX_VALIDATION_ERRORS = 100;
/** The longest single input line the worker will hold in memory. */
export const MAX_INPUT_LINE_BYTES = 32 * 1024 * 1024;

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

/** One request line as the worker sends it. */
export interface BatchRequestLine {
  customId: string;
  url: string;
  body: Record<string, unknown>;
}

const problem = (code: string, message: string, line: number | null, param: string | null = null): BatchErrorItem => ({
  code,
  message,
  param,
  line,
});

/**
 * Checks one parsed line against the batch rules that need no other line.
 * Returns the request, or the problem found.
 */
export function checkRequestLine(value: Record<string, unknown>, line: number, endpoint: string): BatchRequestLine | BatchErrorItem {
  for (const field of ['custom_id', 'method', 'url', 'body'] as const) {
    if (value[field] === undefined || value[field] === null) {
      return problem('missing_required_parameter', `Line ${line} is missing the required parameter '${field}'.`, line, field);
    }
  }
  if (typeof value.custom_id !== 'string' || value.custom_id.length === 0) {
    return problem('invalid_request', `Line ${line}: 'custom_id' must be a non-empty string.`, line, 'custom_id');
  }
  if (value.method !== 'POST') {
    return problem('invalid_request', `Line ${line}: 'method' must be 'POST'.`, line, 'method');
  }
  if (value.url !== endpoint) {
    return problem(
      'mismatched_url',
      `Line ${line}: the url '${String(value.url)}' does not match the batch endpoint '${endpoint}'.`,
      line,
      'url',
    );
  }
  const body = value.body;
  if (typeof body !== 'object' || Array.isArray(body)) {
    return problem('invalid_request', `Line ${line}: 'body' must be a JSON object.`, line, 'body');
  }
  const model = (body as Record<string, unknown>).model;
  if (typeof model !== 'string' || model.length === 0) {
    return problem('missing_required_parameter', `Line ${line} is missing the required parameter 'body.model'.`, line, 'body.model');
  }
  return { customId: value.custom_id, url: value.url, body: body as Record<string, unknown> };
}

const isProblem = (value: BatchRequestLine | BatchErrorItem): value is BatchErrorItem => 'code' in value;

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
        report(problem('invalid_json_line', describeInvalidLine(line.number, parsed.reason), line.number));
        continue;
      }
      const request = checkRequestLine(parsed.value, line.number, rules.endpoint);
      if (isProblem(request)) {
        report(request);
      } else {
        if (seen.has(request.customId)) {
          report(
            problem('duplicate_custom_id', `Line ${line.number}: the custom_id '${request.customId}' is already used by another request.`, line.number, 'custom_id'),
          );
        }
        seen.add(request.customId);
        const lineModel = request.body.model as string;
        model ??= lineModel;
        if (lineModel !== model) {
          report(
            problem('mismatched_model', `Line ${line.number}: the model '${lineModel}' differs from the batch's model '${model}'. A batch uses one model.`, line.number, 'body.model'),
          );
        }
      }
      if (total === rules.maxRequests + 1) {
        report(problem('too_many_requests', `The batch has more than ${rules.maxRequests} requests (line ${line.number}).`, line.number));
      }
      if (!open || open.lineCount >= rules.chunkSize) {
        open = { index: chunks.length, firstLine: line.number, lastLine: line.number, lineCount: 0, startByte: line.start, endByte: line.end };
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
    report(problem('invalid_json_line', error.message, error.lineNumber));
  }
  if (total === 0 && errors.length === 0) {
    report(problem('empty_file', 'The input file is empty. Please ensure that the batch contains at least one request.', null));
  }
  return { model, total, chunks, errors };
}
