import { PageQueryDto } from '../../common/page-query.dto';

export class ListBatchesQueryDto extends PageQueryDto({
  item: 'batch',
  maxLimit: 100,
  defaultLimit: 20,
  order: 'newest first',
}) {}
