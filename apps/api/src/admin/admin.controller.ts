import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminKeyGuard } from './admin-key.guard';
import { AdminService } from './admin.service';
import {
  CreateApiKeyDto,
  CreatedApiKeyDto,
  CreateWorkspaceDto,
  RevokedApiKeyDto,
  UpdateWorkspaceDto,
  UsageQueryDto,
  WorkspaceDto,
  WorkspaceListDto,
  WorkspaceUsageDto,
} from './dto/admin.dto';

@ApiTags('Admin')
@ApiBearerAuth('admin-key')
@UseGuards(AdminKeyGuard)
@Controller('admin')
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Post('workspaces')
  @HttpCode(200)
  @ApiOperation({ summary: 'Create a workspace' })
  @ApiOkResponse({ type: WorkspaceDto })
  async createWorkspace(@Body() body: CreateWorkspaceDto): Promise<WorkspaceDto> {
    return WorkspaceDto.from(await this.admin.createWorkspace(body.name));
  }

  @Get('workspaces')
  @ApiOperation({ summary: 'List workspaces' })
  @ApiOkResponse({ type: WorkspaceListDto })
  async listWorkspaces(): Promise<WorkspaceListDto> {
    return {
      object: 'list',
      data: (await this.admin.listWorkspaces()).map((workspace) => WorkspaceDto.from(workspace)),
    };
  }

  @Patch('workspaces/:id')
  @ApiOperation({ summary: "Set a workspace's monthly token budget (null removes it)" })
  @ApiOkResponse({ type: WorkspaceDto })
  async updateWorkspace(@Param('id') id: string, @Body() body: UpdateWorkspaceDto): Promise<WorkspaceDto> {
    return WorkspaceDto.from(await this.admin.setMonthlyTokenBudget(id, body.monthly_token_budget));
  }

  @Post('workspaces/:id/api-keys')
  @HttpCode(200)
  @ApiOperation({ summary: 'Create a workspace API key (the only time the key is shown)' })
  @ApiOkResponse({ type: CreatedApiKeyDto })
  async createApiKey(@Param('id') workspaceId: string, @Body() body: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    const { entity, secret } = await this.admin.createApiKey(workspaceId, body.name ?? null);
    return CreatedApiKeyDto.from(entity, secret);
  }

  @Delete('api-keys/:id')
  @ApiOperation({
    summary: 'Revoke an API key',
    description:
      'Answers once no api replica accepts the key any more. When that cannot be confirmed in time (Redis away), ' +
      'the answer is 503 `service_unavailable` with `retry-after`: the key stays revoked, and a retry is harmless.',
  })
  @ApiOkResponse({ type: RevokedApiKeyDto })
  async revokeApiKey(@Param('id') id: string): Promise<RevokedApiKeyDto> {
    await this.admin.revokeApiKey(id);
    return { id, object: 'api_key', revoked: true };
  }

  @Get('workspaces/:id/usage')
  @ApiOperation({ summary: 'Token usage billed to a workspace, from the usage ledger' })
  @ApiOkResponse({ type: WorkspaceUsageDto })
  usage(@Param('id') workspaceId: string, @Query() range: UsageQueryDto): Promise<WorkspaceUsageDto> {
    return this.admin.usage(workspaceId, range);
  }
}
