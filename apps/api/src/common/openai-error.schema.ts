import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiResponse } from '@nestjs/swagger';

export class OpenAIErrorDto {
  @ApiProperty({ example: 'No such File object: file-abc' }) message!: string;
  @ApiProperty({ example: 'invalid_request_error' }) type!: string;
  @ApiProperty({ nullable: true, type: String, example: 'id' }) param!: string | null;
  @ApiProperty({ nullable: true, type: String, example: null }) code!: string | null;
}

export class OpenAIErrorResponseDto {
  @ApiProperty({ type: OpenAIErrorDto }) error!: OpenAIErrorDto;
}

/** Documents the OpenAI error envelope on the statuses every /v1 endpoint can answer. */
export const OpenAIErrorResponses = (...extra: number[]) =>
  applyDecorators(
    ...[400, 401, 404, ...extra].map((status) =>
      ApiResponse({ status, description: 'OpenAI error envelope', type: OpenAIErrorResponseDto }),
    ),
  );
