import { ListDto } from '../../common/list-page';
import { ApiProperty } from '@nestjs/swagger';
import { BATCH_STATUSES, BatchEntity, type BatchErrorItem, type BatchStatus, wireFields, WireShape } from '@app/core';

const b = wireFields<BatchEntity>();

/** The Batch object's keys in the live API's order, and where each comes from (see WireShape). */
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

class BatchErrorDto {
  @ApiProperty() code!: string;
  @ApiProperty() message!: string;
  @ApiProperty({ nullable: true, type: String }) param!: string | null;
  @ApiProperty({ nullable: true, type: Number }) line!: number | null;
}

class BatchErrorsDto {
  @ApiProperty({ enum: ['list'] }) object!: 'list';
  @ApiProperty({ type: [BatchErrorDto] }) data!: BatchErrorItem[];
}

class RequestCountsDto {
  @ApiProperty() total!: number;
  @ApiProperty() completed!: number;
  @ApiProperty() failed!: number;
}

class InputTokensDetailsDto {
  @ApiProperty() cached_tokens!: number;
}

class OutputTokensDetailsDto {
  @ApiProperty() reasoning_tokens!: number;
}

class BatchUsageDto {
  @ApiProperty() input_tokens!: number;
  @ApiProperty() output_tokens!: number;
  @ApiProperty() total_tokens!: number;
  @ApiProperty({ type: InputTokensDetailsDto }) input_tokens_details!: InputTokensDetailsDto;
  @ApiProperty({ type: OutputTokensDetailsDto }) output_tokens_details!: OutputTokensDetailsDto;
}

/** The OpenAI Batch object for Swagger (every key present, null where unset); BATCH_WIRE makes it. */
export class BatchObjectDto {
  @ApiProperty({ example: 'batch_4Wb0C3Qm6n0aB8Xk2rT9yZ1d' }) id!: string;
  @ApiProperty({ enum: ['batch'] }) object!: 'batch';
  @ApiProperty({ example: '/v1/chat/completions' }) endpoint!: string;
  @ApiProperty({ nullable: true, type: String, description: 'Set once the input is validated.' }) model!: string | null;
  @ApiProperty({ nullable: true, type: BatchErrorsDto }) errors!: BatchErrorsDto | null;
  @ApiProperty() input_file_id!: string;
  @ApiProperty({ example: '24h' }) completion_window!: string;
  @ApiProperty({ enum: BATCH_STATUSES }) status!: BatchStatus;
  @ApiProperty({ nullable: true, type: String }) output_file_id!: string | null;
  @ApiProperty({ nullable: true, type: String }) error_file_id!: string | null;
  @ApiProperty() created_at!: number;
  @ApiProperty({ nullable: true, type: Number }) in_progress_at!: number | null;
  @ApiProperty({ nullable: true, type: Number }) expires_at!: number | null;
  @ApiProperty({ nullable: true, type: Number }) finalizing_at!: number | null;
  @ApiProperty({ nullable: true, type: Number }) completed_at!: number | null;
  @ApiProperty({ nullable: true, type: Number }) failed_at!: number | null;
  @ApiProperty({ nullable: true, type: Number }) expired_at!: number | null;
  @ApiProperty({ nullable: true, type: Number }) cancelling_at!: number | null;
  @ApiProperty({ nullable: true, type: Number }) cancelled_at!: number | null;
  @ApiProperty({ type: RequestCountsDto }) request_counts!: RequestCountsDto;
  @ApiProperty({ type: BatchUsageDto }) usage!: BatchUsageDto;
  @ApiProperty({ nullable: true, type: 'object', additionalProperties: { type: 'string' } })
  metadata!: Record<string, string> | null;
  @ApiProperty({
    nullable: true,
    type: String,
    description: '**Venna extension.** The batch this one retries (made by `POST /v1/batches/{batch_id}/retry`).',
  })
  retry_of!: string | null;
  @ApiProperty({
    nullable: true,
    type: String,
    description: '**Venna extension.** The batch that retries the lines of this one that did not succeed.',
  })
  retried_by!: string | null;

  static from(batch: BatchEntity): BatchObjectDto {
    return BATCH_WIRE.toWire(batch);
  }
}

export class BatchListDto extends ListDto(BatchObjectDto) {}
