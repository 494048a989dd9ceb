import { newBatchRequestId } from '@app/core';
import type { UpstreamOutcome } from '../upstream/upstream.client';
import type { LineResult } from './journal/line-result';
import { ResultErrorCode } from './result-error-code';
import { NO_USAGE, usageOf } from './usage';

/** How a batch ended, as far as its unexecuted lines are concerned. */
export type FinalStatus = 'completed' | 'expired' | 'cancelled';

/** What an unexecuted line says in the error file, by how the batch ended. */
const NOT_EXECUTED: Record<FinalStatus, { code: ResultErrorCode; message: string }> = {
  expired: {
    code: ResultErrorCode.BatchExpired,
    message: 'This request could not be executed before the completion window expired.',
  },
  cancelled: {
    code: ResultErrorCode.BatchCancelled,
    message: 'This request was not executed because the batch was cancelled.',
  },
  completed: {
    code: ResultErrorCode.RequestNotExecuted,
    message: 'This request could not be executed because of an internal error.',
  },
};

/**
 * The output- or error-file line of an answered request. HTTP answers keep their status and body
 * under `response` (the body copied as received when possible); transport failures go under `error`.
 */
export function resultOf(lineNumber: number, customId: string, outcome: UpstreamOutcome): LineResult {
  const head = `{"id":${JSON.stringify(newBatchRequestId())},"custom_id":${JSON.stringify(customId)},`;
  if (outcome.kind === 'error') {
    const error = JSON.stringify({ code: outcome.code, message: outcome.message });
    return { lineNumber, outcome: 'failed', line: `${head}"response":null,"error":${error}}`, usage: NO_USAGE };
  }
  const succeeded = outcome.statusCode >= 200 && outcome.statusCode < 300 && !isErrorObject(outcome.body);
  const body = outcome.json ?? JSON.stringify(outcome.body);
  const response = `{"status_code":${outcome.statusCode},"request_id":${JSON.stringify(outcome.requestId)},"body":${body}}`;
  return {
    lineNumber,
    outcome: succeeded ? 'succeeded' : 'failed',
    line: `${head}"response":${response},"error":null}`,
    usage: succeeded ? usageOf(outcome.body) : NO_USAGE,
  };
}

/**
 * An OpenAI error object (`{"error": {...}}`, no resource `object`) is a failure whatever status came with it
 * (some gateways answer 200): it goes to the error file and is not counted or billed as a success.
 * A resource that merely has an `error` field (a response object with `"error": null`) is not one.
 */
function isErrorObject(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || 'object' in body) {
    return false;
  }
  const error = (body as { error?: unknown }).error;
  return typeof error === 'object' && error !== null;
}

/** The error-file line of a request that was never executed. */
export const notExecutedLine = (customId: string, status: FinalStatus): string =>
  JSON.stringify({ id: newBatchRequestId(), custom_id: customId, response: null, error: NOT_EXECUTED[status] });

/** The error-file line of a request not sent because its workspace had used its monthly token budget. */
export const budgetExceededResult = (lineNumber: number, customId: string): LineResult => ({
  lineNumber,
  outcome: 'failed',
  line: JSON.stringify({
    id: newBatchRequestId(),
    custom_id: customId,
    response: null,
    error: {
      code: ResultErrorCode.BudgetExceeded,
      message: 'This request was not sent: the workspace has used its monthly token budget.',
    },
  }),
  usage: NO_USAGE,
});
