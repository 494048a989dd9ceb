import { ListDto } from '../../common/list-page';
import { ApiProperty } from '@nestjs/swagger';
import { BATCH_STATUSES, type BatchEntity, type BatchErrorItem, type BatchStatus, unixSeconds } from '@app/core';

const seconds = (date: Date | null) => (date ? unixSeconds(date) : null);

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

/** The OpenAI Batch object: every key present, null where unset, in the live API's key order. */
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
    return {
      id: batch.id,
      object: 'batch',
      endpoint: batch.endpoint,
      model: batch.model,
      errors: batch.errors ? { object: 'list', data: batch.errors } : null,
      input_file_id: batch.inputFileId,
      completion_window: batch.completionWindow,
      status: batch.status,
      output_file_id: batch.outputFileId,
      error_file_id: batch.errorFileId,
      created_at: unixSeconds(batch.createdAt),
      in_progress_at: seconds(batch.inProgressAt),
      expires_at: seconds(batch.expiresAt),
      finalizing_at: seconds(batch.finalizingAt),
      completed_at: seconds(batch.completedAt),
      failed_at: seconds(batch.failedAt),
      expired_at: seconds(batch.expiredAt),
      cancelling_at: seconds(batch.cancellingAt),
      cancelled_at: seconds(batch.cancelledAt),
      request_counts: { total: batch.requestTotal, completed: batch.requestCompleted, failed: batch.requestFailed },
      usage: {
        input_tokens: batch.inputTokens,
        output_tokens: batch.outputTokens,
        total_tokens: batch.inputTokens + batch.outputTokens,
        input_tokens_details: { cached_tokens: batch.cachedTokens },
        output_tokens_details: { reasoning_tokens: batch.reasoningTokens },
      },
      metadata: batch.metadata,
      retry_of: batch.retryOf,
      retried_by: batch.retriedBy,
    };
  }
}

export class BatchListDto extends ListDto(BatchObjectDto) {}
