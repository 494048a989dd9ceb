import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDefined, IsIn, IsInt, IsOptional, IsString, MaxLength, Min, ValidateNested } from 'class-validator';
import { UPLOAD_PURPOSES, type UploadPurpose } from '@app/core';
import { ExpiresAfterDto } from '../../files/dto/create-file.dto';

const BYTES_RANGE = "Invalid 'bytes': expected a positive integer.";

/** OpenAI's CreateUploadRequest. */
export class CreateUploadDto {
  @ApiProperty({ example: 'requests.jsonl', description: 'The name of the file to upload.' })
  @IsDefined({ message: "Missing required parameter: 'filename'." })
  @IsString({ message: "Invalid 'filename': expected a string." })
  @MaxLength(1000, { message: "Invalid 'filename': at most 1000 characters." })
  filename!: string;

  @ApiProperty({ enum: UPLOAD_PURPOSES, description: 'The intended purpose of the file.' })
  @IsDefined({ message: "Missing required parameter: 'purpose'." })
  @IsIn(UPLOAD_PURPOSES, {
    message: ({ value }) => `'${String(value)}' is not one of [${UPLOAD_PURPOSES.join(', ')}] - 'purpose'`,
  })
  purpose!: UploadPurpose;

  @ApiProperty({
    example: 2147483648,
    description: 'The number of bytes in the file: at most the largest upload the service takes (`MAX_UPLOAD_BYTES`).',
  })
  @IsDefined({ message: "Missing required parameter: 'bytes'." })
  @IsInt({ message: BYTES_RANGE })
  @Min(1, { message: BYTES_RANGE })
  bytes!: number;

  @ApiProperty({ example: 'text/jsonl', description: 'The MIME type of the file.' })
  @IsDefined({ message: "Missing required parameter: 'mime_type'." })
  @IsString({ message: "Invalid 'mime_type': expected a string." })
  @MaxLength(255, { message: "Invalid 'mime_type': at most 255 characters." })
  mime_type!: string;

  @ApiPropertyOptional({ type: ExpiresAfterDto, description: 'When the resulting file expires.' })
  @IsOptional()
  @ValidateNested()
  @Type(() => ExpiresAfterDto)
  expires_after?: ExpiresAfterDto;
}
