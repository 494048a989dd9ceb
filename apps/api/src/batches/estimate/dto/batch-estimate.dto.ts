import { ApiProperty, getSchemaPath } from '@nestjs/swagger';
import type { BatchEstimate } from '../batch-estimate.service';

export class ModelEstimateDto {
  @ApiProperty({
    description: 'The encoding the input was counted with; "(fallback)" when the model is not a known family.',
    example: 'o200k_base',
  })
  tokenizer!: string;

  @ApiProperty({ example: 2 }) requests!: number;
  @ApiProperty({ example: 42 }) input_tokens!: number;

  @ApiProperty({ description: "The sum of the requests' output ceilings.", example: 200 })
  max_output_tokens!: number;

  @ApiProperty({ nullable: true, type: Number, description: 'Batch price in USD; null without a price for the model.' })
  cost_usd!: number | null;
}

export class BatchEstimateDto {
  @ApiProperty({ enum: ['batch.estimate'] }) object!: 'batch.estimate';
  @ApiProperty({ example: 'file-abc123' }) input_file_id!: string;
  @ApiProperty({ example: '/v1/chat/completions' }) endpoint!: string;
  @ApiProperty({ example: 2 }) request_count!: number;
  @ApiProperty({ example: 42 }) input_tokens!: number;

  @ApiProperty({
    description:
      'The sum of max_completion_tokens / max_tokens / max_output_tokens; a request that sets none counts ' +
      'ESTIMATE_DEFAULT_MAX_OUTPUT_TOKENS. Embeddings and moderations produce none.',
    example: 200,
  })
  max_output_tokens!: number;

  @ApiProperty({ description: 'Requests that set no output ceiling.', example: 0 })
  requests_without_max_tokens!: number;

  @ApiProperty({
    nullable: true,
    type: Number,
    description:
      'Batch price in USD at most (input + output ceiling); null without PRICES_FILE or a price for every model.',
  })
  cost_usd!: number | null;

  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: getSchemaPath(ModelEstimateDto) },
    description: 'The same figures per model.',
  })
  models!: Record<string, ModelEstimateDto>;

  static from(estimate: BatchEstimate): BatchEstimateDto {
    const { tally } = estimate;
    return {
      object: 'batch.estimate',
      input_file_id: estimate.inputFileId,
      endpoint: estimate.endpoint,
      request_count: tally.requestCount,
      input_tokens: tally.inputTokens,
      max_output_tokens: tally.maxOutputTokens,
      requests_without_max_tokens: tally.requestsWithoutCeiling,
      cost_usd: estimate.costUsd,
      models: Object.fromEntries(
        [...tally.models].map(([model, figures]) => [
          model,
          {
            tokenizer: figures.tokenizer,
            requests: figures.requests,
            input_tokens: figures.inputTokens,
            max_output_tokens: figures.maxOutputTokens,
            cost_usd: estimate.modelCosts.get(model) ?? null,
          },
        ]),
      ),
    };
  }
}
