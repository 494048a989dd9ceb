import { wireFields, WireShape } from '../database/reads/wire-shape';
import { BatchEntity } from './batch.entity';

const b = wireFields<BatchEntity>();

/**
 * The OpenAI Batch object's keys in the live API's order, and where each comes from (see WireShape):
 * BatchRepository has PostgreSQL write it for the reads clients poll, the api's BatchObjectDto makes it in Node.
 */
export const BATCH_WIRE = new WireShape(BatchEntity, {
  id: b.value('id'),
  object: b.constant('batch'),
  endpoint: b.value('endpoint'),
  model: b.value('model'),
  errors: b.json('errors', (errors) => (errors ? { object: 'list' as const, data: errors } : null)),
  input_file_id: b.value('inputFileId'),
  completion_window: b.value('completionWindow'),
  status: b.value('status'),
  output_file_id: b.value('outputFileId'),
  error_file_id: b.value('errorFileId'),
  created_at: b.seconds('createdAt'),
  in_progress_at: b.seconds('inProgressAt'),
  expires_at: b.seconds('expiresAt'),
  finalizing_at: b.seconds('finalizingAt'),
  completed_at: b.seconds('completedAt'),
  failed_at: b.seconds('failedAt'),
  expired_at: b.seconds('expiredAt'),
  cancelling_at: b.seconds('cancellingAt'),
  cancelled_at: b.seconds('cancelledAt'),
  request_counts: b.object({
    total: b.value('requestTotal'),
    // Lines running provider batches report done, until their results are copied into the journal.
    completed: b.sum('requestCompleted', 'providerCompleted'),
    failed: b.sum('requestFailed', 'providerFailed'),
  }),
  usage: b.object({
    input_tokens: b.value('inputTokens'),
    output_tokens: b.value('outputTokens'),
    total_tokens: b.sum('inputTokens', 'outputTokens'),
    input_tokens_details: b.object({ cached_tokens: b.value('cachedTokens') }),
    output_tokens_details: b.object({ reasoning_tokens: b.value('reasoningTokens') }),
  }),
  metadata: b.json('metadata', (metadata) => metadata),
  retry_of: b.value('retryOf'),
  retried_by: b.value('retriedBy'),
});

export type BatchWire = ReturnType<typeof BATCH_WIRE.toWire>;
