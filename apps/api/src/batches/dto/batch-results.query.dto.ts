import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';

export const MAX_RESULTS_LIMIT = 10_000;
const LIMIT_MESSAGE = `Invalid 'limit': expected an integer between 1 and ${MAX_RESULTS_LIMIT}.`;

/** `after` and `limit` of `GET /v1/batches/{batch_id}/results`. */
export class BatchResultsQueryDto {
  @ApiPropertyOptional({
    description: 'The `x-next-cursor` of the previous answer; omit (or `0`) to start from the first result line.',
    example: '0',
  })
  @IsOptional()
  // A journal sequence: a PostgreSQL integer, so at most 10 digits (the service checks the range).
  @Matches(/^(0|[1-9][0-9]{0,9})$/, {
    message: "Invalid 'after': expected the x-next-cursor value of a previous answer (a non-negative integer).",
  })
  after?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_RESULTS_LIMIT, default: 1000 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: LIMIT_MESSAGE })
  @Min(1, { message: LIMIT_MESSAGE })
  @Max(MAX_RESULTS_LIMIT, { message: LIMIT_MESSAGE })
  limit: number = 1000;
}
