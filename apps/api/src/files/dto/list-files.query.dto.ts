import { ApiPropertyOptional } from '@nestjs/swagger';
import { PageQueryDto } from '../../common/page-query.dto';
import { choiceParam, type QueryParams, textParam } from '../../common/query-params';

const ORDERS = ['asc', 'desc'] as const;

export class ListFilesQueryDto extends PageQueryDto({
  item: 'file',
  maxLimit: 10000,
  defaultLimit: 10000,
  order: 'in the chosen order',
}) {
  static override readonly queryParams: QueryParams = {
    purpose: textParam("Invalid 'purpose': expected a string."),
    order: choiceParam(ORDERS, 'desc', (value) => `Invalid 'order': '${value}' is not one of ['asc', 'desc'].`),
    ...super.queryParams,
  };

  @ApiPropertyOptional({ description: 'Only files with this purpose.' })
  purpose?: string;

  @ApiPropertyOptional({ enum: ORDERS, default: 'desc', description: 'Sort order by created_at.' })
  order: 'asc' | 'desc' = 'desc';
}
