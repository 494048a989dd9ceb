import type { BatchErrorItem } from './batch.entity';

/**
 * The endpoints a batch may target, as OpenAI accepts them (CreateBatchRequest.endpoint). Every line's body is
 * JSON, images and videos included: an edit names its input images by URL (https or a base64 `data:` URL) or
 * file id, as the JSON form of the Images API takes them.
 */
export const BATCH_ENDPOINTS = [
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/completions',
  '/v1/responses',
  '/v1/moderations',
  '/v1/images/generations',
  '/v1/images/edits',
  '/v1/videos',
] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];

/** The longest single input line accepted (and so the most either app holds in memory for one line). */
export const MAX_BATCH_LINE_BYTES = 32 * 1024 * 1024;

/** Validation reports at most this many problems per batch. */
export const MAX_VALIDATION_ERRORS = 100;

/**
 * The codes of a batch's `errors.data[].code`: what validation reports, and `internal_error` for a batch that
 * could not be processed. OpenAI publishes no table; these follow the ones Azure OpenAI documents, and those
 * observed from OpenAI.
 */
export enum BatchInputErrorCode {
  InvalidJsonLine = 'invalid_json_line',
  InvalidRequest = 'invalid_request',
  MissingParameter = 'missing_required_parameter',
  UrlMismatch = 'url_mismatch',
  ModelMismatch = 'model_mismatch',
  DuplicateCustomId = 'duplicate_custom_id',
  TooManyTasks = 'too_many_tasks',
  EmptyFile = 'empty_file',
  InvalidFile = 'invalid_file',
  InternalError = 'internal_error',
}

/** A user's value quoted into a message, cut short: messages are stored with the batch and sent on every read. */
export function quoted(value: unknown, maxLength = 64): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return `'${text.length > maxLength ? `${text.slice(0, maxLength)}…` : text}'`;
}

/** One request line as the worker sends it. */
export interface BatchRequestLine {
  customId: string;
  url: string;
  body: Record<string, unknown>;
}

export const batchProblem = (
  code: string,
  message: string,
  line: number | null,
  param: string | null = null,
): BatchErrorItem => ({
  code,
  message,
  param,
  line,
});

export const isBatchProblem = (value: BatchRequestLine | BatchErrorItem): value is BatchErrorItem => 'code' in value;

export const tooManyRequestsMessage = (maxRequests: number, line: number): string =>
  `Line ${line}: a batch can hold at most ${maxRequests} requests.`;

/**
 * Checks one parsed line against the batch rules that need no other line.
 * Returns the request, or the problem found.
 */
export function checkRequestLine(
  value: Record<string, unknown>,
  line: number,
  endpoint: string,
): BatchRequestLine | BatchErrorItem {
  for (const field of ['custom_id', 'method', 'url', 'body'] as const) {
    if (value[field] === undefined || value[field] === null) {
      return batchProblem(
        BatchInputErrorCode.MissingParameter,
        `Line ${line} is missing the required parameter '${field}'.`,
        line,
        field,
      );
    }
  }
  if (typeof value.custom_id !== 'string' || value.custom_id.length === 0) {
    return batchProblem(
      BatchInputErrorCode.InvalidRequest,
      `Line ${line}: 'custom_id' must be a non-empty string.`,
      line,
      'custom_id',
    );
  }
  if (value.method !== 'POST') {
    return batchProblem(BatchInputErrorCode.InvalidRequest, `Line ${line}: 'method' must be 'POST'.`, line, 'method');
  }
  if (value.url !== endpoint) {
    return batchProblem(
      BatchInputErrorCode.UrlMismatch,
      `Line ${line}: the url ${quoted(value.url)} does not match the batch endpoint '${endpoint}'.`,
      line,
      'url',
    );
  }
  const body = value.body;
  if (typeof body !== 'object' || Array.isArray(body)) {
    return batchProblem(
      BatchInputErrorCode.InvalidRequest,
      `Line ${line}: 'body' must be a JSON object.`,
      line,
      'body',
    );
  }
  const model = (body as Record<string, unknown>).model;
  if (typeof model !== 'string' || model.length === 0) {
    return batchProblem(
      BatchInputErrorCode.MissingParameter,
      `Line ${line} is missing the required parameter 'body.model'.`,
      line,
      'body.model',
    );
  }
  if ((body as Record<string, unknown>).stream === true) {
    // A batch answer is one JSON body, not an event stream.
    return batchProblem(
      BatchInputErrorCode.InvalidRequest,
      `Line ${line}: 'body.stream' is not supported in a batch.`,
      line,
      'body.stream',
    );
  }
  return { customId: value.custom_id, url: value.url, body: body as Record<string, unknown> };
}
