import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, QueryFailedError } from 'typeorm';
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
  WorkspaceEntity,
} from '@app/core';
import { ApiKeyCache } from '../auth/api-key-cache';
import { WorkspaceBudget } from '../budgets/workspace-budget.service';
import { ApiEnvironment } from '../config/api-environment';
import type { UsageQueryDto, WorkspaceUsageDto } from './dto/admin.dto';

const BOOTSTRAP_WORKSPACE = 'default';

interface UsageRow {
  model: string;
  pricing: 'online' | 'batch';
  batches: string;
  requests: string;
  input_tokens: string;
  cached_tokens: string;
  output_tokens: string;
  reasoning_tokens: string;
}

@Injectable()
export class AdminService implements OnApplicationBootstrap {
  private readonly logger = new Logger(AdminService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
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
    await this.dataSource.query(`INSERT INTO workspaces (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [
      newWorkspaceId(),
      BOOTSTRAP_WORKSPACE,
    ]);
    await this.dataSource.query(
      `INSERT INTO api_keys (id, workspace_id, name, key_hash, key_prefix)
       SELECT $1, id, 'bootstrap', $2, $3 FROM workspaces WHERE name = $4
       ON CONFLICT (key_hash) DO NOTHING`,
      [newApiKeyId(), hashApiKey(secret), displayPrefixOf(secret), BOOTSTRAP_WORKSPACE],
    );
    this.logger.log(`Bootstrap key ${displayPrefixOf(secret)}... is ready in workspace "${BOOTSTRAP_WORKSPACE}"`);
  }

  async createWorkspace(name: string): Promise<WorkspaceEntity> {
    const workspaces = this.dataSource.getRepository(WorkspaceEntity);
    try {
      return await workspaces.save(workspaces.create({ id: newWorkspaceId(), name }));
    } catch (error) {
      if (error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23505') {
        throw new AppError(ErrorCode.InvalidRequest, `A workspace named '${name}' already exists.`, 'name');
      }
      throw error;
    }
  }

  listWorkspaces(): Promise<WorkspaceEntity[]> {
    return this.dataSource.getRepository(WorkspaceEntity).find({ order: { createdAt: 'ASC', id: 'ASC' } });
  }

  async setMonthlyTokenBudget(id: string, budget: number | null): Promise<WorkspaceEntity> {
    await this.requireWorkspace(id);
    const workspaces = this.dataSource.getRepository(WorkspaceEntity);
    await workspaces.update({ id }, { monthlyTokenBudget: budget });
    return workspaces.findOneByOrFail({ id });
  }

  async createApiKey(workspaceId: string, name: string | null): Promise<{ entity: ApiKeyEntity; secret: string }> {
    await this.requireWorkspace(workspaceId);
    const secret = newApiKeySecret();
    const keys = this.dataSource.getRepository(ApiKeyEntity);
    const entity = await keys.save(
      keys.create({
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
    const result: [unknown, number] = await this.dataSource.query(
      `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, clock_timestamp()) WHERE id = $1`,
      [id],
    );
    if (result[1] === 0) {
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

  async usage(workspaceId: string, range: UsageQueryDto): Promise<WorkspaceUsageDto> {
    await this.requireWorkspace(workspaceId);
    const rows: UsageRow[] = await this.dataSource.query(
      `SELECT model, pricing, count(*) AS batches, sum(request_count) AS requests,
              sum(input_tokens) AS input_tokens, sum(cached_tokens) AS cached_tokens,
              sum(output_tokens) AS output_tokens, sum(reasoning_tokens) AS reasoning_tokens
         FROM usage_ledger
        WHERE workspace_id = $1
          AND ($2::bigint IS NULL OR recorded_at >= to_timestamp($2))
          AND ($3::bigint IS NULL OR recorded_at < to_timestamp($3))
        GROUP BY model, pricing ORDER BY model, pricing`,
      [workspaceId, range.start_time ?? null, range.end_time ?? null],
    );
    const byModel = rows.map((row) => {
      const input = Number(row.input_tokens);
      const output = Number(row.output_tokens);
      return {
        model: row.model,
        pricing: row.pricing,
        batches: Number(row.batches),
        requests: Number(row.requests),
        input_tokens: input,
        cached_tokens: Number(row.cached_tokens),
        output_tokens: output,
        reasoning_tokens: Number(row.reasoning_tokens),
        total_tokens: input + output,
      };
    });
    const sum = (key: keyof (typeof byModel)[number]) => byModel.reduce((acc, row) => acc + Number(row[key]), 0);
    const standing = await this.budget.standing(workspaceId);
    return {
      object: 'workspace.usage',
      workspace_id: workspaceId,
      start_time: range.start_time ?? null,
      end_time: range.end_time ?? null,
      batches: await this.billedBatches(workspaceId, range),
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

  /** Batches billed in the range: a batch whose lines ran both ways has a ledger row for each pricing. */
  private async billedBatches(workspaceId: string, range: UsageQueryDto): Promise<number> {
    const rows: { batches: number }[] = await this.dataSource.query(
      `SELECT count(DISTINCT batch_id)::int AS batches FROM usage_ledger
        WHERE workspace_id = $1
          AND ($2::bigint IS NULL OR recorded_at >= to_timestamp($2))
          AND ($3::bigint IS NULL OR recorded_at < to_timestamp($3))`,
      [workspaceId, range.start_time ?? null, range.end_time ?? null],
    );
    return rows[0].batches;
  }

  private async requireWorkspace(id: string): Promise<void> {
    if (!(await this.dataSource.getRepository(WorkspaceEntity).existsBy({ id }))) {
      throw new AppError(ErrorCode.WorkspaceNotFound, `No such workspace: ${id}`, 'id');
    }
  }
}
