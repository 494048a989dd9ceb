import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';

export class ListFilesQueryDto {
  @ApiPropertyOptional({ description: 'Only files with this purpose.' })
  @IsOptional()
  @IsString({ message: "Invalid 'purpose': expected a string." })
  purpose?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 10000, default: 10000 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: "Invalid 'limit': expected an integer between 1 and 10000." })
  @Min(1, { message: "Invalid 'limit': expected an integer between 1 and 10000." })
  @Max(10000, { message: "Invalid 'limit': expected an integer between 1 and 10000." })
  limit: number = 10000;

  @ApiPropertyOptional({ enum: ['asc', 'desc'], default: 'desc', description: 'Sort order by created_at.' })
  @IsOptional()
  @IsIn(['asc', 'desc'], {
    message: ({ value }) => `Invalid 'order': '${String(value)}' is not one of ['asc', 'desc'].`,
  })
  order: 'asc' | 'desc' = 'desc';

  @ApiPropertyOptional({ description: 'A file id: the list starts after it, in the chosen order.' })
  @IsOptional()
  @IsString({ message: "Invalid 'after': expected a file id." })
  after?: string;
}
