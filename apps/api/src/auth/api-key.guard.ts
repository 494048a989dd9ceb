import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Request } from 'express';
import { DataSource } from 'typeorm';
import { API_KEY_PATTERN, AppError, ErrorCode, hashApiKey } from '@app/core';
import type { RequestWorkspace } from './request-workspace';

const MISSING_KEY =
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";

/** Bearer vk_... → the key's workspace on the request; anything else is a 401 in the OpenAI envelope. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<Request>();
    const secret = bearerToken(request);
    if (!secret) {
      throw new AppError(ErrorCode.InvalidApiKey, MISSING_KEY);
    }
    const workspace = API_KEY_PATTERN.test(secret) ? await this.workspaceOf(secret) : null;
    if (!workspace) {
      throw new AppError(ErrorCode.InvalidApiKey, `Incorrect API key provided: ${redact(secret)}.`);
    }
    request.workspace = workspace;
    return true;
  }

  private async workspaceOf(secret: string): Promise<RequestWorkspace | null> {
    const rows: RequestWorkspace[] = await this.dataSource.query(
      `SELECT w.id, w.name FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
        WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
      [hashApiKey(secret)],
    );
    return rows[0] ?? null;
  }
}

export function bearerToken(request: Request): string | null {
  const header = request.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match ? match[1] : null;
}

function redact(secret: string): string {
  return secret.length <= 12 ? '****' : `${secret.slice(0, 6)}${'*'.repeat(8)}${secret.slice(-4)}`;
}
