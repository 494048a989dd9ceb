import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppError, ErrorCode } from '@app/core';
import { ApiEnvironment } from '../config/api-environment';
import { RequestRateLimiter } from './request-rate-limiter';

/**
 * RATE_LIMIT_PER_MINUTE per API key. Runs after ApiKeyGuard (it counts the key that guard resolved). Every
 * counted answer carries OpenAI's x-ratelimit-*-requests headers; past the limit the answer is a 429 with
 * code rate_limit_exceeded and a retry-after (seconds) the SDK waits for before it retries.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly limiter: RequestRateLimiter,
    private readonly env: ApiEnvironment,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const limit = this.env.RATE_LIMIT_PER_MINUTE;
    if (limit === undefined) {
      return true;
    }
    const request = context.switchToHttp().getRequest<Request>();
    if (!request.apiKeyId) {
      throw new Error('RateLimitGuard used without ApiKeyGuard before it');
    }
    const count = await this.limiter.count(request.apiKeyId);
    if (!count) {
      return true;
    }
    const response = context.switchToHttp().getResponse<Response>();
    const reset = durationText(count.resetMs);
    response.setHeader('x-ratelimit-limit-requests', String(limit));
    response.setHeader('x-ratelimit-remaining-requests', String(Math.max(0, limit - count.used)));
    response.setHeader('x-ratelimit-reset-requests', reset);
    if (count.used <= limit) {
      return true;
    }
    response.setHeader('retry-after', String(Math.max(1, Math.ceil(count.resetMs / 1000))));
    throw new AppError(
      ErrorCode.RateLimitExceeded,
      `Rate limit reached for this API key on requests per min (RPM): Limit ${limit}, Used ${limit}, Requested 1. Please try again in ${reset}.`,
    );
  }
}

/** A duration as OpenAI writes it in x-ratelimit-reset-*: `250ms`, `8.64s`, `1m0s`. */
export function durationText(ms: number): string {
  if (ms < 1000) {
    return `${Math.max(0, Math.round(ms))}ms`;
  }
  const minutes = Math.floor(ms / 60_000);
  const seconds = Number(((ms % 60_000) / 1000).toFixed(3));
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}
