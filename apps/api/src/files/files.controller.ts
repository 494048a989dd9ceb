import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import type { JsonOf } from '@app/core';
import { ApiKeyGuard } from '../auth/api-key.guard';
import type { RequestWorkspace } from '../auth/request-workspace';
import { CurrentWorkspace } from '../auth/workspace.decorator';
import { JsonText } from '../common/json-text';
import type { ListEnvelope } from '../common/list-page';
import { OpenAIErrorResponses } from '../common/openai-error.schema';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard';
import { ApiIdempotencyKey } from '../idempotency/idempotent.decorator';
import { IdempotencyInterceptor } from '../idempotency/idempotency.interceptor';
import { CREATE_FILE_FORM_SCHEMA, CreateFileDto } from './dto/create-file.dto';
import { FileDeletedDto, FileListDto, FileObjectDto } from './dto/file-object.dto';
import { ListFilesQueryDto } from './dto/list-files.query.dto';
import { FileUploadInterceptor } from './file-upload.interceptor';
import { FilesService } from './files.service';
import type { StoredUpload } from './streaming-upload.engine';

@ApiTags('Files')
@ApiBearerAuth('workspace-key')
@OpenAIErrorResponses(429)
@UseGuards(ApiKeyGuard, RateLimitGuard)
@Controller('v1/files')
export class FilesController {
  constructor(private readonly files: FilesService) {}

  @Post()
  @HttpCode(200)
  // The upload first (it streams the bytes and hashes them), then the key, fingerprinted with that hash.
  @UseInterceptors(FileUploadInterceptor, IdempotencyInterceptor)
  @ApiIdempotencyKey()
  @ApiOperation({ summary: 'Upload a file', operationId: 'createFile' })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: CREATE_FILE_FORM_SCHEMA })
  @ApiOkResponse({ type: FileObjectDto })
  async create(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Req() request: Request,
    @Body() form: CreateFileDto,
  ): Promise<FileObjectDto> {
    const upload = request.file as unknown as StoredUpload | undefined;
    return FileObjectDto.from(await this.files.create(workspace.id, upload, form));
  }

  @Get()
  @ApiOperation({ summary: 'List files', operationId: 'listFiles' })
  @ApiOkResponse({ type: FileListDto })
  @JsonText()
  async list(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Query() query: ListFilesQueryDto,
  ): Promise<JsonOf<ListEnvelope<FileObjectDto>>> {
    return FileListDto.json(await this.files.list(workspace.id, query));
  }

  @Get(':file_id')
  @ApiOperation({ summary: 'Retrieve a file', operationId: 'retrieveFile' })
  @ApiOkResponse({ type: FileObjectDto })
  @JsonText()
  retrieve(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Param('file_id') fileId: string,
  ): Promise<JsonOf<FileObjectDto>> {
    return this.files.getWire(workspace.id, fileId);
  }

  @Delete(':file_id')
  @ApiOperation({ summary: 'Delete a file', operationId: 'deleteFile' })
  @ApiOkResponse({ type: FileDeletedDto })
  async delete(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Param('file_id') fileId: string,
  ): Promise<FileDeletedDto> {
    await this.files.delete(workspace.id, fileId);
    return { object: 'file', deleted: true, id: fileId };
  }

  @Get(':file_id/content')
  @ApiOperation({ summary: 'Retrieve file content (raw bytes)', operationId: 'downloadFile' })
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  async content(
    @CurrentWorkspace() workspace: RequestWorkspace,
    @Param('file_id') fileId: string,
    @Res() response: Response,
  ): Promise<void> {
    const { file, content } = await this.files.openContent(workspace.id, fileId);
    response.status(200);
    response.setHeader('Content-Type', 'application/octet-stream');
    response.setHeader('Content-Length', String(file.bytes));
    response.setHeader('Content-Disposition', `attachment; filename*=UTF-8''${encodeURIComponent(file.filename)}`);
    await pipeline(content, response);
  }
}
