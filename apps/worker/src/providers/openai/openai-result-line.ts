import { randomBase62 } from '@app/core';
import { ResultErrorCode } from '../../batch-runner/result-error-code';
import { lineNumberOf, type ProviderLine } from '../provider-line';

interface OpenAiResultLine {
  id?: unknown;
  custom_id?: unknown;
  response?: { status_code?: unknown; request_id?: unknown; body?: unknown } | null;
  error?: { code?: unknown; message?: unknown } | null;
}

/**
 * An answer laid out as OpenAI writes it: id, custom_id, then the response with its body last, then a null error.
 * Whatever lies between the two is the body: when it parses alone, the line has exactly this layout.
 */
const ANSWER_HEAD =
  /^\{\s*"id"\s*:\s*"[^"\\]*"\s*,\s*"custom_id"\s*:\s*"line-([1-9]\d{0,9})"\s*,\s*"response"\s*:\s*\{\s*"status_code"\s*:\s*(\d{3})\s*,\s*"request_id"\s*:\s*"([^"\\]*)"\s*,\s*"body"\s*:/;
const ANSWER_TAIL = /\}\s*,\s*"error"\s*:\s*null\s*\}\s*$/;

/** One line of an output or error file as what the provider says of our line; null for a line not ours. */
export function resultLineOf(bytes: Buffer): ProviderLine | null {
  const text = bytes.toString('utf8');
  return answerAsWritten(text) ?? resultLineParsed(text);
}

/**
 * An answer whose body is kept as the provider wrote it, as an executed line keeps the upstream's: no re-encoding,
 * and only the body is parsed (for its usage). Null when the line is laid out otherwise.
 */
function answerAsWritten(text: string): ProviderLine | null {
  const head = ANSWER_HEAD.exec(text);
  const tail = head && ANSWER_TAIL.exec(text);
  if (!head || !tail || tail.index < head[0].length) {
    return null;
  }
  const json = text.slice(head[0].length, tail.index).trim();
  if (/[\r\n]/.test(json)) {
    return null; // a journal line holds no line break: such a body is re-encoded
  }
  let body: unknown;
  try {
    body = JSON.parse(json);
  } catch {
    return null;
  }
  return {
    kind: 'answered',
    lineNumber: Number(head[1]),
    outcome: { kind: 'response', statusCode: Number(head[2]), requestId: head[3], body, json, attempts: 1 },
  };
}

function resultLineParsed(text: string): ProviderLine | null {
  let line: OpenAiResultLine;
  try {
    line = JSON.parse(text) as OpenAiResultLine;
  } catch {
    return null;
  }
  const lineNumber = lineNumberOf(line.custom_id);
  if (lineNumber === null) {
    return null;
  }
  const { response, error } = line;
  if (response && typeof response.status_code === 'number') {
    const requestId =
      typeof response.request_id === 'string' ? response.request_id : `req_${randomBase62(24).toLowerCase()}`;
    return {
      kind: 'answered',
      lineNumber,
      outcome: {
        kind: 'response',
        statusCode: response.status_code,
        requestId,
        body: response.body ?? null,
        json: null,
        attempts: 1,
      },
    };
  }
  const code: string = typeof error?.code === 'string' ? error.code : ResultErrorCode.RequestNotExecuted;
  if (code === (ResultErrorCode.BatchExpired as string)) {
    return { kind: 'expired', lineNumber };
  }
  if (code === (ResultErrorCode.BatchCancelled as string)) {
    return { kind: 'cancelled', lineNumber };
  }
  const message = typeof error?.message === 'string' ? error.message : 'The provider did not run this request.';
  // The provider's own code is kept as it is: customers match on it like on ours.
  return {
    kind: 'answered',
    lineNumber,
    outcome: { kind: 'error', code: code as ResultErrorCode, message, attempts: 1 },
  };
}
