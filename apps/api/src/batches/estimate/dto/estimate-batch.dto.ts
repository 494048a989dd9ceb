import { ApiProperty } from '@nestjs/swagger';
import { IsDefined, IsIn, IsString } from 'class-validator';
import { BATCH_ENDPOINTS, type BatchEndpoint } from '@app/core';

export class EstimateBatchDto {
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
}
