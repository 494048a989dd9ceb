import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDefined, IsIn, IsInt, IsOptional, Max, Min, ValidateNested } from 'class-validator';
import { FILE_TTL_MAX_SECONDS, FILE_TTL_MIN_SECONDS, UPLOAD_PURPOSES, type UploadPurpose } from '@app/core';

const quotedList = (values: readonly string[]) => `[${values.map((v) => `'${v}'`).join(', ')}]`;

const SECONDS_RANGE = `'seconds' must be an integer between ${FILE_TTL_MIN_SECONDS} and ${FILE_TTL_MAX_SECONDS}`;

/** `{anchor: "created_at", seconds}`: used by file uploads and by batches' output_expires_after. */
export class ExpiresAfterDto {
  @ApiProperty({ enum: ['created_at'] })
  @IsIn(['created_at'], { message: ({ value }) => `'${String(value)}' is not one of ['created_at'] - 'anchor'` })
  anchor!: 'created_at';

  @Type(() => Number)
  @IsInt({ message: SECONDS_RANGE })
  @Min(FILE_TTL_MIN_SECONDS, { message: SECONDS_RANGE })
  @Max(FILE_TTL_MAX_SECONDS, { message: SECONDS_RANGE })
  @ApiProperty({ minimum: FILE_TTL_MIN_SECONDS, maximum: FILE_TTL_MAX_SECONDS })
  seconds!: number;
}

/** The non-file fields of POST /v1/files (multer turns `expires_after[seconds]` into a nested object). */
export class CreateFileDto {
  @IsDefined({ message: "Missing required parameter: 'purpose'." })
  @IsIn(UPLOAD_PURPOSES, {
    message: ({ value }) => `'${String(value)}' is not one of ${quotedList(UPLOAD_PURPOSES)} - 'purpose'`,
  })
  purpose!: UploadPurpose;

  @IsOptional()
  @ValidateNested()
  @Type(() => ExpiresAfterDto)
  expires_after?: ExpiresAfterDto;
}

/** The multipart form as Swagger UI should render it, bracket keys included, so "Try it out" uploads. */
export const CREATE_FILE_FORM_SCHEMA = {
  type: 'object',
  required: ['file', 'purpose'],
  properties: {
    file: { type: 'string', format: 'binary', description: 'The file to upload.' },
    purpose: {
      type: 'string',
      enum: [...UPLOAD_PURPOSES],
      description: 'The intended purpose of the file. Use "batch" for Batch API input (.jsonl).',
    },
    'expires_after[anchor]': {
      type: 'string',
      enum: ['created_at'],
      description: 'Anchor for the expiration; only created_at is supported.',
    },
    'expires_after[seconds]': {
      type: 'integer',
      minimum: FILE_TTL_MIN_SECONDS,
      maximum: FILE_TTL_MAX_SECONDS,
      description: 'Seconds after the anchor when the file expires (3600 to 2592000).',
    },
  },
};
