import { PageQueryDto } from '../../common/page-query.dto';

export class ListWebhookDeliveriesQueryDto extends PageQueryDto({
  item: 'webhook delivery',
  maxLimit: 100,
  defaultLimit: 20,
  order: 'newest first',
}) {}
