import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { API_KEY_PATTERN, AppError, ErrorCode, hashApiKey, WorkspaceRepository } from '@app/core';
import { AuthFailureLimiter } from '../rate-limit/auth-failure-limiter';
import { ApiKeyCache, type ResolvedKey } from './api-key-cache';

const MISSING_KEY =
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";

/**
 * Bearer vk_... → the key's workspace on the request; anything else is a 401 in the OpenAI envelope. A client address
 * past AUTH_FAILURES_PER_MINUTE wrong keys gets a 429 with retry-after instead, before its key is looked up (a key
 * this process holds in its cache still passes: it costs no query).
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly workspaces: WorkspaceRepository,
    private readonly cache: ApiKeyCache,
    private readonly failures: AuthFailureLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<Request>();
    const secret = bearerToken(request);
    if (!secret) {
      throw new AppError(ErrorCode.InvalidApiKey, MISSING_KEY);
    }
    const key = await this.resolve(secret, context);
    if (!key) {
      await this.failures.recordFailure(request.ip);
      throw new AppError(ErrorCode.InvalidApiKey, `Incorrect API key provided: ${redact(secret)}.`);
    }
    request.workspace = key.workspace;
    request.apiKeyId = key.keyId;
    return true;
  }

  private async resolve(secret: string, context: ExecutionContext): Promise<ResolvedKey | null> {
    const keyHash = API_KEY_PATTERN.test(secret) ? hashApiKey(secret) : null;
    const cached = keyHash ? await this.cache.get(keyHash) : undefined;
    if (cached) {
      return cached;
    }
    await this.refuseIfFailingTooOften(context);
    return keyHash ? this.lookUp(keyHash) : null;
  }

  /** Before any query: a client past its failed authentications waits for its window to close. */
  private async refuseIfFailingTooOften(context: ExecutionContext): Promise<void> {
    const waitMs = await this.failures.waitMs(context.switchToHttp().getRequest<Request>().ip);
    if (waitMs === 0) {
      return;
    }
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    context.switchToHttp().getResponse<Response>().setHeader('retry-after', String(seconds));
    throw new AppError(
      ErrorCode.RateLimitExceeded,
      `Too many failed authentications from your address: at most ${this.failures.perMinute} per minute. Please try again in ${seconds}s.`,
    );
  }

  private async lookUp(keyHash: string): Promise<ResolvedKey | null> {
    const ticket = this.cache.ticket();
    const key = await this.workspaces.activeKeyByHash(keyHash);
    if (key) {
      this.cache.put(keyHash, key, ticket);
    }
    return key;
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
