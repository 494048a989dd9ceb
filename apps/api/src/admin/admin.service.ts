import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import {
  ApiKeyEntity,
  AppError,
  displayPrefixOf,
  ErrorCode,
  hashApiKey,
  newApiKeyId,
  newApiKeySecret,
  newWorkspaceId,
  unixSeconds,
  UsageLedgerRepository,
  WorkspaceEntity,
  WorkspaceRepository,
} from '@app/core';
import { ApiKeyCache } from '../auth/api-key-cache';
import { WorkspaceBudget } from '../budgets/workspace-budget.service';
import { ApiEnvironment } from '../config/api-environment';
import type { UsageQueryDto, WorkspaceUsageDto } from './dto/admin.dto';

const BOOTSTRAP_WORKSPACE = 'default';

@Injectable()
export class AdminService implements OnApplicationBootstrap {
  private readonly logger = new Logger(AdminService.name);

  constructor(
    private readonly workspaces: WorkspaceRepository,
    private readonly ledger: UsageLedgerRepository,
    private readonly env: ApiEnvironment,
    private readonly keyCache: ApiKeyCache,
    private readonly budget: WorkspaceBudget,
  ) {}

  /** BOOTSTRAP_API_KEY: make sure workspace `default` exists and holds that key (idempotent). */
  async onApplicationBootstrap(): Promise<void> {
    const secret = this.env.BOOTSTRAP_API_KEY;
    if (!secret) {
      return;
    }
    await this.workspaces.ensureNamed(newWorkspaceId(), BOOTSTRAP_WORKSPACE);
    await this.workspaces.ensureKeyInNamed(
      { id: newApiKeyId(), name: 'bootstrap', keyHash: hashApiKey(secret), keyPrefix: displayPrefixOf(secret) },
      BOOTSTRAP_WORKSPACE,
    );
    this.logger.log(`Bootstrap key ${displayPrefixOf(secret)}... is ready in workspace "${BOOTSTRAP_WORKSPACE}"`);
  }

  async createWorkspace(name: string): Promise<WorkspaceEntity> {
    const workspace = await this.workspaces.insert(
      Object.assign(new WorkspaceEntity(), { id: newWorkspaceId(), name }),
    );
    if (!workspace) {
      throw new AppError(ErrorCode.InvalidRequest, `A workspace named '${name}' already exists.`, 'name');
    }
    return workspace;
  }

  listWorkspaces(): Promise<WorkspaceEntity[]> {
    return this.workspaces.all();
  }

  async setMonthlyTokenBudget(id: string, budget: number | null): Promise<WorkspaceEntity> {
    await this.requireWorkspace(id);
    return this.workspaces.setMonthlyTokenBudget(id, budget);
  }

  async createApiKey(workspaceId: string, name: string | null): Promise<{ entity: ApiKeyEntity; secret: string }> {
    await this.requireWorkspace(workspaceId);
    const secret = newApiKeySecret();
    const entity = await this.workspaces.insertKey(
      Object.assign(new ApiKeyEntity(), {
        id: newApiKeyId(),
        workspaceId,
        name,
        keyHash: hashApiKey(secret),
        keyPrefix: displayPrefixOf(secret),
        revokedAt: null,
      }),
    );
    return { entity, secret };
  }

  async revokeApiKey(id: string): Promise<void> {
    if (!(await this.workspaces.revokeKey(id))) {
      throw new AppError(ErrorCode.ApiKeyNotFound, `No such API key: ${id}`, 'id');
    }
    // Committed first: a replica that misses the announcement and looks the key up again finds it revoked.
    if (!(await this.keyCache.announceRevocation(id))) {
      // The key stays revoked: a retry (idempotent) announces it again, and only a confirmed one answers 2xx.
      throw new AppError(
        ErrorCode.DependencyUnavailable,
        `API key ${id} is revoked, but not every api replica has confirmed it yet. Please retry the request.`,
      );
    }
  }

  async usage(workspaceId: string, rangeQuery: UsageQueryDto): Promise<WorkspaceUsageDto> {
    await this.requireWorkspace(workspaceId);
    const range = { start: rangeQuery.start_time ?? null, end: rangeQuery.end_time ?? null };
    const byModel = (await this.ledger.byModel(workspaceId, range)).map((row) => ({
      model: row.model,
      pricing: row.pricing,
      batches: row.batches,
      requests: row.requests,
      input_tokens: row.inputTokens,
      cached_tokens: row.cachedTokens,
      output_tokens: row.outputTokens,
      reasoning_tokens: row.reasoningTokens,
      total_tokens: row.inputTokens + row.outputTokens,
    }));
    const sum = (key: keyof (typeof byModel)[number]) => byModel.reduce((acc, row) => acc + Number(row[key]), 0);
    const standing = await this.budget.standing(workspaceId);
    return {
      object: 'workspace.usage',
      workspace_id: workspaceId,
      start_time: range.start,
      end_time: range.end,
      batches: await this.ledger.billedBatches(workspaceId, range),
      totals: {
        requests: sum('requests'),
        input_tokens: sum('input_tokens'),
        cached_tokens: sum('cached_tokens'),
        output_tokens: sum('output_tokens'),
        reasoning_tokens: sum('reasoning_tokens'),
        total_tokens: sum('total_tokens'),
      },
      by_model: byModel,
      current_month: {
        start_time: unixSeconds(standing.monthStart),
        budget: standing.budget,
        used: standing.used,
        reserved: standing.reserved,
      },
    };
  }

  private async requireWorkspace(id: string): Promise<void> {
    if (!(await this.workspaces.exists(id))) {
      throw new AppError(ErrorCode.WorkspaceNotFound, `No such workspace: ${id}`, 'id');
    }
  }
}
