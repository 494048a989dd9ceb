import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString } from 'class-validator';
import { PageQueryDto } from '../../common/page-query.dto';

export class ListFilesQueryDto extends PageQueryDto({
  item: 'file',
  maxLimit: 10000,
  defaultLimit: 10000,
  order: 'in the chosen order',
}) {
  @ApiPropertyOptional({ description: 'Only files with this purpose.' })
  @IsOptional()
  @IsString({ message: "Invalid 'purpose': expected a string." })
  purpose?: string;

  @ApiPropertyOptional({ enum: ['asc', 'desc'], default: 'desc', description: 'Sort order by created_at.' })
  @IsOptional()
  @IsIn(['asc', 'desc'], {
    message: ({ value }) => `Invalid 'order': '${String(value)}' is not one of ['asc', 'desc'].`,
  })
  order: 'asc' | 'desc' = 'desc';
}
