import { ListDto } from '../../common/list-page';
import { ApiProperty } from '@nestjs/swagger';
import { BATCH_STATUSES, BATCH_WIRE, type BatchEntity, type BatchErrorItem, type BatchStatus } from '@app/core';

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
