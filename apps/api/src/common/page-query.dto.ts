import { ApiPropertyOptional } from '@nestjs/swagger';
import { integerParam, type QueryParams, readQuery, textParam } from './query-params';

/**
 * `after` and `limit`, as every OpenAI list takes them; each list has its own largest and default limit.
 * The decorators document the parameters for Swagger; `queryParams` reads them (see query-params.ts), and a
 * subclass that adds parameters lists them first (their errors came first under class-validator too).
 */
export function PageQueryDto(options: { item: string; maxLimit: number; defaultLimit: number; order: string }) {
  const limitMessage = `Invalid 'limit': expected an integer between 1 and ${options.maxLimit}.`;

  class PageQuery {
    static readonly queryParams: QueryParams = {
      after: textParam(`Invalid 'after': expected a ${options.item} id.`),
      limit: integerParam(1, options.maxLimit, options.defaultLimit, limitMessage),
    };

    @ApiPropertyOptional({ description: `A ${options.item} id: the list continues after it (${options.order}).` })
    after?: string;

    @ApiPropertyOptional({ minimum: 1, maximum: options.maxLimit, default: options.defaultLimit })
    limit: number = options.defaultLimit;

    /** The query as an instance of the calling class (a subclass reads its own `queryParams`), or a 400. */
    static parseQuery<T extends PageQuery>(this: (new () => T) & { queryParams: QueryParams }, raw: object): T {
      return Object.assign(new this(), readQuery(this.queryParams, raw as Record<string, unknown>));
    }
  }
  return PageQuery;
}
