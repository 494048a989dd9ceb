import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager, IsNull, Not, QueryFailedError } from 'typeorm';
import { PreparedReads, type ReadStatement } from '../database/reads/prepared-reads';
import { ApiKeyEntity } from './api-key.entity';
import { budgetStanding, type BudgetStanding } from './budget-standing';
import { WorkspaceEntity } from './workspace.entity';

const KEY_BY_HASH: ReadStatement = {
  name: 'api-keys.resolve',
  types: ['bpchar'], // key_hash is char(64): a text value would cast the column and miss its index
  text: (p) => `SELECT k.id AS key_id, w.id AS workspace_id, w.name AS workspace_name
                  FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
                 WHERE k.key_hash = ${p(1)} AND k.revoked_at IS NULL`,
};

interface KeyRow {
  key_id: string;
  workspace_id: string;
  workspace_name: string;
}

/** An API key that is not revoked, with its workspace. */
export interface ActiveKey {
  keyId: string;
  workspace: { id: string; name: string };
}

/** Workspaces and their API keys (tables workspaces, api_keys). */
@Injectable()
export class WorkspaceRepository {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly reads: PreparedReads,
  ) {}

  private get workspaces() {
    return this.dataSource.getRepository(WorkspaceEntity);
  }

  /** Where the workspace stands against its monthly token budget (see budgetStanding). */
  budgetStanding(workspaceId: string, manager: EntityManager = this.dataSource.manager): Promise<BudgetStanding> {
    return budgetStanding(manager, workspaceId);
  }

  async hasBudget(workspaceId: string): Promise<boolean> {
    return this.workspaces.exists({ where: { id: workspaceId, monthlyTokenBudget: Not(IsNull()) } });
  }

  /** The key with this hash, unless revoked: a read every request on a cache miss makes, so coalesced. */
  async activeKeyByHash(keyHash: string): Promise<ActiveKey | null> {
    const [row] = await this.reads.rows<KeyRow>(KEY_BY_HASH, [keyHash]);
    return row ? { keyId: row.key_id, workspace: { id: row.workspace_id, name: row.workspace_name } } : null;
  }

  /** A new workspace, or null if one has this name already. */
  async insert(workspace: WorkspaceEntity): Promise<WorkspaceEntity | null> {
    try {
      return await this.workspaces.save(workspace);
    } catch (error) {
      if (error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23505') {
        return null;
      }
      throw error;
    }
  }

  /** The workspace with this name, created (with `id`) if there is none. */
  async ensureNamed(id: string, name: string): Promise<void> {
    await this.dataSource.query(`INSERT INTO workspaces (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [
      id,
      name,
    ]);
  }

  all(): Promise<WorkspaceEntity[]> {
    return this.workspaces.find({ order: { createdAt: 'ASC', id: 'ASC' } });
  }

  exists(id: string): Promise<boolean> {
    return this.workspaces.existsBy({ id });
  }

  async setMonthlyTokenBudget(id: string, budget: number | null): Promise<WorkspaceEntity> {
    await this.workspaces.update({ id }, { monthlyTokenBudget: budget });
    return this.workspaces.findOneByOrFail({ id });
  }

  insertKey(key: ApiKeyEntity): Promise<ApiKeyEntity> {
    return this.dataSource.getRepository(ApiKeyEntity).save(key);
  }

  /** Adds a key to the workspace of this name, unless a key with its hash exists. */
  async ensureKeyInNamed(
    key: Pick<ApiKeyEntity, 'id' | 'name' | 'keyHash' | 'keyPrefix'>,
    workspaceName: string,
  ): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO api_keys (id, workspace_id, name, key_hash, key_prefix)
       SELECT $1, id, $2, $3, $4 FROM workspaces WHERE name = $5
       ON CONFLICT (key_hash) DO NOTHING`,
      [key.id, key.name, key.keyHash, key.keyPrefix, workspaceName],
    );
  }

  /** Revokes the key (once: a repeat keeps the first time); false if there is no such key. */
  async revokeKey(id: string): Promise<boolean> {
    const [, revoked] = await this.dataSource.query<[unknown, number]>(
      `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, clock_timestamp()) WHERE id = $1`,
      [id],
    );
    return revoked === 1;
  }
}
