import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError, ErrorCode } from '@app/core';
import { bearerToken } from '../auth/api-key.guard';
import { ApiEnvironment } from '../config/api-environment';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Compares in constant time (over digests, so the lengths do not leak either). */
export const isAdminKey = (given: string, adminKey: string): boolean =>
  timingSafeEqual(digest(given), digest(adminKey));

/** Bearer ADMIN_API_KEY. With ADMIN_API_KEY unset the admin API does not exist (404). */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  constructor(private readonly env: ApiEnvironment) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<Request>();
    if (!this.env.ADMIN_API_KEY) {
      throw new AppError(ErrorCode.AdminApiDisabled, 'The admin API is disabled: set ADMIN_API_KEY to enable it.');
    }
    const given = bearerToken(request);
    if (!given || !isAdminKey(given, this.env.ADMIN_API_KEY)) {
      throw new AppError(ErrorCode.InvalidAdminKey, 'Incorrect admin API key provided.');
    }
    return true;
  }
}
