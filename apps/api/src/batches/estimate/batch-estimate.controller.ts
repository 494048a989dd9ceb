import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiExtraModels, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiKeyGuard } from '../../auth/api-key.guard';
import { RateLimitGuard } from '../../rate-limit/rate-limit.guard';
import type { RequestWorkspace } from '../../auth/request-workspace';
import { CurrentWorkspace } from '../../auth/workspace.decorator';
import { OpenAIErrorResponses } from '../../common/openai-error.schema';
import { BatchEstimateService } from './batch-estimate.service';
import { BatchEstimateDto, ModelEstimateDto } from './dto/batch-estimate.dto';
import { EstimateBatchDto } from './dto/estimate-batch.dto';

@ApiTags('Batches (extensions)')
@ApiBearerAuth('workspace-key')
@ApiExtraModels(ModelEstimateDto)
@OpenAIErrorResponses()
@UseGuards(ApiKeyGuard, RateLimitGuard)
@Controller('v1/batches')
export class BatchEstimateController {
  constructor(private readonly estimates: BatchEstimateService) {}

  @Post('estimate')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Estimate a batch before creating it: requests, input tokens, output ceiling and cost, per model',
    description:
      'Reads the file without running anything. Input tokens are counted with the tokenizer of each model ' +
      'family (o200k_base, cl100k_base; o200k_base as a flagged fallback for unknown models). A file that ' +
      'validation would reject answers 400 with the rule it breaks as `code` and the line in the message.',
    operationId: 'estimateBatch',
  })
  @ApiOkResponse({ type: BatchEstimateDto })
  async estimate(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Body() body: EstimateBatchDto,
  ): Promise<BatchEstimateDto> {
    return BatchEstimateDto.from(await this.estimates.estimate(workspace.id, body.input_file_id, body.endpoint));
  }
}
