import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsDefined, IsOptional, IsString, Matches } from 'class-validator';

/** With parts of at least 1 byte the declared size sets no natural bound on their number, so one is set. */
export const MAX_PARTS_PER_UPLOAD = 10_000;

/** OpenAI's CompleteUploadRequest. */
export class CompleteUploadDto {
  @ApiProperty({
    type: [String],
    example: ['part_def456', 'part_ghi789'],
    description: 'The ordered list of Part IDs.',
  })
  @IsDefined({ message: "Missing required parameter: 'part_ids'." })
  @IsArray({ message: "Invalid 'part_ids': expected an array of part ids." })
  @ArrayMinSize(1, { message: "Invalid 'part_ids': at least one part id is required." })
  @ArrayMaxSize(MAX_PARTS_PER_UPLOAD, { message: `Invalid 'part_ids': at most ${MAX_PARTS_PER_UPLOAD} parts.` })
  @IsString({ each: true, message: "Invalid 'part_ids': expected an array of part id strings." })
  part_ids!: string[];

  @ApiPropertyOptional({ example: 'd41d8cd98f00b204e9800998ecf8427e', description: 'MD5 of the whole file, hex.' })
  @IsOptional()
  @IsString({ message: "Invalid 'md5': expected a hex string of 32 characters." })
  @Matches(/^[0-9a-fA-F]{32}$/, { message: "Invalid 'md5': expected a hex string of 32 characters." })
  md5?: string;
}
