import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';

export class ListBatchesQueryDto {
  @ApiPropertyOptional({ description: 'A batch id: the list continues after it (newest first).' })
  @IsOptional()
  @IsString({ message: "Invalid 'after': expected a batch id." })
  after?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: "Invalid 'limit': expected an integer between 1 and 100." })
  @Min(1, { message: "Invalid 'limit': expected an integer between 1 and 100." })
  @Max(100, { message: "Invalid 'limit': expected an integer between 1 and 100." })
  limit: number = 20;
}
