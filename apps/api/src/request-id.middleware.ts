import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';

/** A caller's own id is kept if it is a plain token of sane length; anything else is replaced. */
const GIVEN_ID = /^[\w.:-]{1,200}$/;

/**
 * Every request gets an id: the caller's `x-request-id`, or a new `req_…` as OpenAI's are. It is echoed
 * in the response (the SDK exposes it as `_request_id`) and, as `req.id`, it is the `request_id` of
 * every log line about the request (pino-http reads it).
 */
export function requestId(request: Request, response: Response, next: NextFunction): void {
  const given = request.headers['x-request-id'];
  // randomUUID draws from a cached pool of entropy, where randomBytes would make a system call on every request.
  const id = typeof given === 'string' && GIVEN_ID.test(given) ? given : `req_${randomUUID().replaceAll('-', '')}`;
  request.id = id;
  response.setHeader('x-request-id', id);
  next();
}
