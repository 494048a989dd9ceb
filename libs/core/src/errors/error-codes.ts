/** Every error the service answers with, mapped once to its HTTP status and OpenAI error type. */
export enum ErrorCode {
  InvalidApiKey = 'invalid_api_key',
  InvalidAdminKey = 'invalid_admin_key',
  AdminApiDisabled = 'admin_api_disabled',
  InvalidRequest = 'invalid_request',
  MissingParameter = 'missing_required_parameter',
  FileNotFound = 'file_not_found',
  BatchNotFound = 'batch_not_found',
  UploadNotFound = 'upload_not_found',
  UploadNotOpen = 'upload_not_open',
  WorkspaceNotFound = 'workspace_not_found',
  ApiKeyNotFound = 'api_key_not_found',
  WebhookNotFound = 'webhook_not_found',
  WebhookDeliveryNotFound = 'webhook_delivery_not_found',
  RouteNotFound = 'route_not_found',
  FileTooLarge = 'file_too_large',
  RequestTooLarge = 'request_too_large',
  InvalidBatchFile = 'invalid_batch_file',
  BatchNotCancellable = 'batch_not_cancellable',
  RateLimitExceeded = 'rate_limit_exceeded',
  OpenBatchLimitExceeded = 'open_batch_limit_exceeded',
  BatchNotRetryable = 'batch_not_retryable',
  NothingToRetry = 'nothing_to_retry',
  IdempotencyKeyReused = 'idempotency_key_reused',
  IdempotencyKeyInUse = 'idempotency_key_in_use',
  QueueUnavailable = 'queue_unavailable',
  DependencyUnavailable = 'dependency_unavailable',
  BudgetExceeded = 'budget_exceeded',
  ServerError = 'server_error',
}

export interface ErrorShape {
  status: number;
  /** `requests` is what OpenAI sends with a requests-per-minute 429 (`tokens` for its token limits). */
  type: 'invalid_request_error' | 'server_error' | 'authentication_error' | 'requests' | 'insufficient_quota';
  /** The `code` sent on the wire: OpenAI sends null for most request errors. */
  wireCode: string | null;
}

export const ERRORS: Record<ErrorCode, ErrorShape> = {
  [ErrorCode.InvalidApiKey]: { status: 401, type: 'invalid_request_error', wireCode: 'invalid_api_key' },
  [ErrorCode.InvalidAdminKey]: { status: 401, type: 'invalid_request_error', wireCode: 'invalid_api_key' },
  [ErrorCode.AdminApiDisabled]: { status: 404, type: 'invalid_request_error', wireCode: null },
  [ErrorCode.InvalidRequest]: { status: 400, type: 'invalid_request_error', wireCode: null },
  [ErrorCode.MissingParameter]: { status: 400, type: 'invalid_request_error', wireCode: 'missing_required_parameter' },
  [ErrorCode.FileNotFound]: { status: 404, type: 'invalid_request_error', wireCode: null },
  [ErrorCode.BatchNotFound]: { status: 404, type: 'invalid_request_error', wireCode: null },
  [ErrorCode.UploadNotFound]: { status: 404, type: 'invalid_request_error', wireCode: null },
  [ErrorCode.UploadNotOpen]: { status: 400, type: 'invalid_request_error', wireCode: null },
  [ErrorCode.WorkspaceNotFound]: { status: 404, type: 'invalid_request_error', wireCode: null },
  [ErrorCode.ApiKeyNotFound]: { status: 404, type: 'invalid_request_error', wireCode: null },
  [ErrorCode.WebhookNotFound]: { status: 404, type: 'invalid_request_error', wireCode: null },
  [ErrorCode.WebhookDeliveryNotFound]: { status: 404, type: 'invalid_request_error', wireCode: null },
  [ErrorCode.RouteNotFound]: { status: 404, type: 'invalid_request_error', wireCode: 'unknown_url' },
  [ErrorCode.FileTooLarge]: { status: 413, type: 'invalid_request_error', wireCode: 'file_too_large' },
  [ErrorCode.RequestTooLarge]: { status: 413, type: 'invalid_request_error', wireCode: null },
  [ErrorCode.InvalidBatchFile]: { status: 400, type: 'invalid_request_error', wireCode: 'invalid_file_format' },
  [ErrorCode.BatchNotCancellable]: { status: 409, type: 'invalid_request_error', wireCode: null },
  [ErrorCode.RateLimitExceeded]: { status: 429, type: 'requests', wireCode: 'rate_limit_exceeded' },
  [ErrorCode.OpenBatchLimitExceeded]: {
    status: 429,
    type: 'invalid_request_error',
    wireCode: 'open_batch_limit_exceeded',
  },
  [ErrorCode.BatchNotRetryable]: { status: 409, type: 'invalid_request_error', wireCode: 'batch_not_retryable' },
  [ErrorCode.NothingToRetry]: { status: 400, type: 'invalid_request_error', wireCode: 'nothing_to_retry' },
  [ErrorCode.IdempotencyKeyReused]: { status: 409, type: 'invalid_request_error', wireCode: 'idempotency_key_reused' },
  [ErrorCode.IdempotencyKeyInUse]: { status: 409, type: 'invalid_request_error', wireCode: 'idempotency_key_in_use' },
  [ErrorCode.QueueUnavailable]: { status: 503, type: 'server_error', wireCode: 'queue_unavailable' },
  [ErrorCode.DependencyUnavailable]: { status: 503, type: 'server_error', wireCode: 'service_unavailable' },
  [ErrorCode.BudgetExceeded]: { status: 429, type: 'insufficient_quota', wireCode: 'budget_exceeded' },
  [ErrorCode.ServerError]: { status: 500, type: 'server_error', wireCode: 'server_error' },
};
