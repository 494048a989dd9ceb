/**
 * The `error.code` of an error-file line whose request got no HTTP answer to keep (an HTTP answer keeps its
 * status and body under `response` instead). Customers match on these: never rename a value.
 */
export enum ResultErrorCode {
  /** The upstream did not answer within UPSTREAM_TIMEOUT_MS, on every attempt. */
  RequestTimeout = 'request_timeout',
  /** The upstream could not be reached, on every attempt. */
  UpstreamUnreachable = 'upstream_unreachable',
  /** The upstream answered 2xx with a body that is not JSON, on every attempt. */
  InvalidUpstreamResponse = 'invalid_upstream_response',
  /** Not executed before the completion window ended. */
  BatchExpired = 'batch_expired',
  /** Not executed because the batch was cancelled. */
  BatchCancelled = 'batch_cancelled',
  /** The provider's Batch API failed the whole batch this line was sent in (its validation); the message is the provider's. */
  ProviderBatchFailed = 'provider_batch_failed',
  /** Not sent: the workspace had used its monthly token budget (lines already sent were let finish). */
  BudgetExceeded = 'budget_exceeded',
  /**
   * The request body could not be written as JSON to send (nested too deeply for the serialiser): never sent.
   * Validation refuses such lines since the nesting limit; this is for lines of batches validated before it.
   */
  UnserializableRequest = 'unserializable_request',
  /** Not executed although the batch completed (an internal error). */
  RequestNotExecuted = 'request_not_executed',
}
