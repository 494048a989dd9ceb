import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsDefined,
  IsIn,
  IsOptional,
  IsString,
  ValidateBy,
  ValidateNested,
  type ValidationOptions,
} from 'class-validator';
import { BATCH_ENDPOINTS, type BatchEndpoint } from '@app/core';
import { ExpiresAfterDto } from '../../files/dto/create-file.dto';

/** OpenAI's Metadata: up to 16 string pairs, keys ≤ 64 and values ≤ 512 characters (null allowed). */
export function metadataProblem(value: unknown): string | null {
  if (value === null || value === undefined) {
    return null;
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    return "Invalid 'metadata': expected an object of string keys and string values.";
  }
  const entries = Object.entries(value);
  if (entries.length > 16) {
    return `Invalid 'metadata': at most 16 key-value pairs are allowed, got ${entries.length}.`;
  }
  for (const [key, item] of entries) {
    if (key.length > 64) {
      return `Invalid 'metadata': key '${key.slice(0, 70)}…' is longer than 64 characters.`;
    }
    if (typeof item !== 'string') {
      return `Invalid 'metadata': the value of '${key}' must be a string.`;
    }
    if (item.length > 512) {
      return `Invalid 'metadata': the value of '${key}' is longer than 512 characters.`;
    }
  }
  return null;
}

const IsOpenAIMetadata = (options?: ValidationOptions) =>
  ValidateBy(
    {
      name: 'isOpenAIMetadata',
      validator: {
        validate: (value: unknown) => metadataProblem(value) === null,
        defaultMessage: (args) => metadataProblem(args?.value) ?? 'Invalid metadata',
      },
    },
    options,
  );

export class CreateBatchDto {
  @ApiProperty({ description: 'The id of a file uploaded with purpose "batch".', example: 'file-abc123' })
  @IsDefined({ message: "Missing required parameter: 'input_file_id'." })
  @IsString({ message: "Invalid 'input_file_id': expected a file id string." })
  input_file_id!: string;

  @ApiProperty({ enum: BATCH_ENDPOINTS })
  @IsDefined({ message: "Missing required parameter: 'endpoint'." })
  @IsIn(BATCH_ENDPOINTS, {
    message: ({ value }) => `Invalid 'endpoint': '${String(value)}' is not one of ${BATCH_ENDPOINTS.join(', ')}.`,
  })
  endpoint!: BatchEndpoint;

  @ApiProperty({ example: '24h' })
  @IsDefined({ message: "Missing required parameter: 'completion_window'." })
  @IsString({ message: "Invalid 'completion_window': expected a string such as '24h'." })
  completion_window!: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    nullable: true,
    description: 'Up to 16 key-value pairs; keys ≤ 64 characters, values ≤ 512 characters.',
  })
  @IsOptional()
  @IsOpenAIMetadata()
  metadata?: Record<string, string> | null;

  @ApiPropertyOptional({ type: ExpiresAfterDto, description: 'Expiration of the output and error files.' })
  @IsOptional()
  @ValidateNested()
  @Type(() => ExpiresAfterDto)
  output_expires_after?: ExpiresAfterDto;
}
