import { Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiKeyGuard } from '../auth/api-key.guard';
import type { RequestWorkspace } from '../auth/request-workspace';
import { CurrentWorkspace } from '../auth/workspace.decorator';
import type { JsonOf } from '@app/core';
import { JsonText } from '../common/json-text';
import type { ListEnvelope } from '../common/list-page';
import { OpenAIErrorResponses } from '../common/openai-error.schema';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard';
import { Idempotent } from '../idempotency/idempotent.decorator';
import { BatchRetryService } from './batch-retry.service';
import { BatchesService } from './batches.service';
import { BatchListDto, BatchObjectDto } from './dto/batch-object.dto';
import { CreateBatchDto } from './dto/create-batch.dto';
import { ListBatchesQueryDto } from './dto/list-batches.query.dto';

@ApiTags('Batches')
@ApiBearerAuth('workspace-key')
@OpenAIErrorResponses(429)
@UseGuards(ApiKeyGuard, RateLimitGuard)
@Controller('v1/batches')
export class BatchesController {
  constructor(
    private readonly batches: BatchesService,
    private readonly retries: BatchRetryService,
  ) {}

  @Post()
  @HttpCode(200)
  @Idempotent()
  @ApiOperation({
    summary: 'Create a batch from an uploaded .jsonl file',
    operationId: 'createBatch',
    description:
      "Executed line by line against the model's upstream, or forwarded to the provider's own Batch API (a native " +
      'upstream, at its batch price): see "Native provider batches" above. A model served by Anthropic takes ' +
      '`/v1/chat/completions` lines only; validation fails the batch naming any other.',
  })
  @ApiOkResponse({ type: BatchObjectDto })
  @OpenAIErrorResponses(429, 503)
  async create(@CurrentWorkspace() workspace: RequestWorkspace, @Body() body: CreateBatchDto): Promise<BatchObjectDto> {
    return BatchObjectDto.from(await this.batches.create(workspace.id, body));
  }

  @Get()
  @ApiOperation({ summary: 'List batches, newest first', operationId: 'listBatches' })
  @ApiOkResponse({ type: BatchListDto })
  @JsonText()
  async list(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Query() query: ListBatchesQueryDto,
  ): Promise<JsonOf<ListEnvelope<BatchObjectDto>>> {
    return BatchListDto.json(await this.batches.list(workspace.id, query));
  }

  @Get(':batch_id')
  @ApiOperation({ summary: 'Retrieve a batch', operationId: 'retrieveBatch' })
  @ApiOkResponse({ type: BatchObjectDto })
  @JsonText()
  retrieve(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Param('batch_id') batchId: string,
  ): Promise<JsonOf<BatchObjectDto>> {
    return this.batches.getWire(workspace.id, batchId);
  }

  @Post(':batch_id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel a batch (answers with status "cancelling")', operationId: 'cancelBatch' })
  @ApiOkResponse({ type: BatchObjectDto })
  @OpenAIErrorResponses(409)
  async cancel(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Param('batch_id') batchId: string,
  ): Promise<BatchObjectDto> {
    return BatchObjectDto.from(await this.batches.cancel(workspace.id, batchId));
  }

  @Post(':batch_id/retry')
  @HttpCode(200)
  @ApiTags('Batches (Venna extensions)')
  @ApiOperation({
    summary: 'Retry the requests of an ended batch that did not succeed, as a new linked batch',
    description:
      '**Venna extension.** For a batch that has ended (completed, failed, expired or cancelled): a new input File ' +
      '(purpose `batch`) holding, byte for byte and in order, every input line whose `custom_id` is not a success in ' +
      'the output file (failed, expired, cancelled and never executed lines), and a new batch from it with the same ' +
      '`endpoint`, `completion_window`, `metadata` and `output_expires_after`. The two are linked by `retry_of` on ' +
      'the new batch and `retried_by` on this one. A batch is retried once: asking again answers the same retry ' +
      '(retry the retry for another round). 400 `nothing_to_retry` when every request succeeded; 409 ' +
      '`batch_not_retryable` while the batch is still running.',
    operationId: 'retryBatch',
  })
  @ApiOkResponse({ type: BatchObjectDto })
  @OpenAIErrorResponses(409, 503)
  async retry(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Param('batch_id') batchId: string,
  ): Promise<BatchObjectDto> {
    return BatchObjectDto.from(await this.retries.retry(workspace.id, batchId));
  }
}
