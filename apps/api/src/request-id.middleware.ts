import type { NextFunction, Request, Response } from 'express';
import { randomBytes } from 'node:crypto';

/** Every response carries x-request-id, as OpenAI's do; the SDK exposes it as `_request_id`. */
export function requestId(request: Request, response: Response, next: NextFunction): void {
  response.setHeader('x-request-id', `req_${randomBytes(16).toString('hex')}`);
  next();
}
