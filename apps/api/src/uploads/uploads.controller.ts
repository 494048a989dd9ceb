import { Body, Controller, HttpCode, Param, Post, Req, UseGuards, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { UPLOAD_PART_MAX_BYTES } from '@app/core';
import { ApiKeyGuard } from '../auth/api-key.guard';
import { Idempotent } from '../idempotency/idempotent.decorator';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard';
import type { RequestWorkspace } from '../auth/request-workspace';
import { CurrentWorkspace } from '../auth/workspace.decorator';
import { OpenAIErrorResponses } from '../common/openai-error.schema';
import { CompleteUploadDto } from './dto/complete-upload.dto';
import { CreateUploadDto } from './dto/create-upload.dto';
import { UploadObjectDto, UploadPartObjectDto } from './dto/upload-object.dto';
import { type StoredPart, UploadPartInterceptor } from './upload-part.interceptor';
import { UploadsService } from './uploads.service';

@ApiTags('Uploads')
@ApiBearerAuth('workspace-key')
@OpenAIErrorResponses()
@UseGuards(ApiKeyGuard, RateLimitGuard)
@Controller('v1/uploads')
export class UploadsController {
  constructor(private readonly uploads: UploadsService) {}

  @Post()
  @HttpCode(200)
  @Idempotent()
  @ApiOperation({
    summary: 'Create an upload',
    description:
      'An Upload takes the bytes of one file in Parts (up to 64 MB each, `MAX_UPLOAD_BYTES` in all), sent in any order and in ' +
      'parallel, and must be completed within an hour (`UPLOAD_EXPIRY_SECONDS`). Returns it with status `pending`.',
    operationId: 'createUpload',
  })
  @ApiOkResponse({ type: UploadObjectDto })
  async create(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Body() request: CreateUploadDto,
  ): Promise<UploadObjectDto> {
    return UploadObjectDto.from(await this.uploads.create(workspace.id, request));
  }

  @Post(':upload_id/parts')
  @HttpCode(200)
  @UseInterceptors(UploadPartInterceptor)
  @ApiOperation({ summary: 'Add a part to an upload', operationId: 'addUploadPart' })
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    schema: {
      type: 'object',
      required: ['data'],
      properties: {
        data: { type: 'string', format: 'binary', description: `The part's bytes, at most ${UPLOAD_PART_MAX_BYTES}.` },
      },
    },
  })
  @ApiOkResponse({ type: UploadPartObjectDto })
  async addPart(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Param('upload_id') uploadId: string,
    @Req() request: Request,
  ): Promise<UploadPartObjectDto> {
    const stored = request.file as unknown as StoredPart | undefined;
    return UploadPartObjectDto.from(await this.uploads.addPart(workspace.id, uploadId, stored));
  }

  @Post(':upload_id/complete')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Complete an upload',
    description:
      'Joins the parts in the order of `part_ids` into a File, which must hold exactly the declared `bytes` ' +
      '(and match `md5` when given; batch files are checked as by POST /v1/files). Returns the Upload, status ' +
      '`completed`, with the File under `file`. On S3, parts named in the order they were sent are joined by S3 ' +
      'in place, with no byte copied; in any other order S3 copies them into the File, with no byte passing through ' +
      'the API (a part under 5 MiB named before the last is streamed).',
    operationId: 'completeUpload',
  })
  @ApiOkResponse({ type: UploadObjectDto })
  async complete(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Param('upload_id') uploadId: string,
    @Body() request: CompleteUploadDto,
  ): Promise<UploadObjectDto> {
    const { upload, file } = await this.uploads.complete(workspace.id, uploadId, request);
    return UploadObjectDto.from(upload, file);
  }

  @Post(':upload_id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel an upload; its parts are deleted', operationId: 'cancelUpload' })
  @ApiOkResponse({ type: UploadObjectDto })
  async cancel(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Param('upload_id') uploadId: string,
  ): Promise<UploadObjectDto> {
    return UploadObjectDto.from(await this.uploads.cancel(workspace.id, uploadId));
  }
}
