import { Controller, Get, Param, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { ApiKeyGuard } from '../auth/api-key.guard';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard';
import type { RequestWorkspace } from '../auth/request-workspace';
import { CurrentWorkspace } from '../auth/workspace.decorator';
import { OpenAIErrorResponses } from '../common/openai-error.schema';
import { BatchResultsService } from './batch-results.service';
import { BatchResultsQueryDto } from './dto/batch-results.query.dto';

/**
 * `application/x-ndjson`, not `application/jsonl`: neither is registered with IANA, but x-ndjson is the type
 * HTTP clients, proxies and streaming libraries already know as "one JSON value per line, read as it comes".
 */
const RESULTS_CONTENT_TYPE = 'application/x-ndjson';

/** An extension to OpenAI's Batch API: the result lines recorded so far, while the batch runs and after. */
@ApiTags('Batch results (extension)')
@ApiBearerAuth('workspace-key')
@OpenAIErrorResponses()
@UseGuards(ApiKeyGuard, RateLimitGuard)
@Controller('v1/batches')
export class BatchResultsController {
  constructor(private readonly results: BatchResultsService) {}

  @Get(':batch_id/results')
  @ApiOperation({
    summary: 'Stream the result lines recorded so far (an extension)',
    description:
      'Result lines (successes and failures, each exactly as it stands, or will stand, in the output or error ' +
      'file), as JSON Lines, after the cursor `after`. Send the `x-next-cursor` of each answer as the next ' +
      '`after`: polling this way, every line arrives exactly once, in any status; once the batch has ended and ' +
      '`x-results-complete` is `true`, what arrived equals the output and error files together.',
    operationId: 'listBatchResults',
  })
  @ApiProduces(RESULTS_CONTENT_TYPE)
  @ApiOkResponse({
    description: 'JSON Lines, one result line each',
    schema: {
      type: 'string',
      example:
        '{"id":"batch_req_…","custom_id":"req-1","response":{"status_code":200,"request_id":"…","body":{…}},"error":null}\n',
    },
    headers: {
      'x-next-cursor': { description: 'The `after` of the next call', schema: { type: 'string', example: '1042' } },
      'x-batch-status': { description: 'The batch status when this answer was read', schema: { type: 'string' } },
      'x-results-complete': {
        description: '`true` once the batch has ended and no result line is left after `x-next-cursor`',
        schema: { type: 'string', enum: ['true', 'false'] },
      },
    },
  })
  async list(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Param('batch_id') batchId: string,
    @Query() query: BatchResultsQueryDto,
    @Res() response: Response,
  ): Promise<void> {
    const page = await this.results.read(workspace.id, batchId, query.after, query.limit);
    response.status(200);
    response.setHeader('Content-Type', RESULTS_CONTENT_TYPE);
    response.setHeader('x-next-cursor', String(page.nextCursor));
    response.setHeader('x-batch-status', page.status);
    response.setHeader('x-results-complete', String(page.complete));
    await pipeline(page.lines, response);
  }
}
