import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';

/** `after` and `limit`, as every OpenAI list takes them; each list has its own largest and default limit. */
export function PageQueryDto(options: { item: string; maxLimit: number; defaultLimit: number; order: string }) {
  const limitMessage = `Invalid 'limit': expected an integer between 1 and ${options.maxLimit}.`;

  class PageQuery {
    @ApiPropertyOptional({ description: `A ${options.item} id: the list continues after it (${options.order}).` })
    @IsOptional()
    @IsString({ message: `Invalid 'after': expected a ${options.item} id.` })
    after?: string;

    @ApiPropertyOptional({ minimum: 1, maximum: options.maxLimit, default: options.defaultLimit })
    @IsOptional()
    @Type(() => Number)
    @IsInt({ message: limitMessage })
    @Min(1, { message: limitMessage })
    @Max(options.maxLimit, { message: limitMessage })
    limit: number = options.defaultLimit;
  }
  return PageQuery;
}
