import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AppError, ErrorCode, toOpenAIError } from '@app/core';
import { isAdminKey } from '../admin/admin-key.guard';

/** The password of `Authorization: Basic base64(user:password)`, or null. */
function basicPassword(header: string | undefined): string | null {
  const match = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!match) {
    return null;
  }
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

/**
 * HTTP Basic auth with the admin key as password and any user name, so a browser can open the page:
 * a 401 carries `WWW-Authenticate`, which makes it ask.
 */
export function adminBasicAuth(adminKey: string): RequestHandler {
  return (request: Request, response: Response, next: NextFunction) => {
    const password = basicPassword(request.headers.authorization);
    if (password !== null && isAdminKey(password, adminKey)) {
      next();
      return;
    }
    const { status, body } = toOpenAIError(
      new AppError(
        ErrorCode.InvalidAdminKey,
        'The queue dashboard needs HTTP Basic auth with the admin API key as password (any user name).',
      ),
    );
    response.setHeader('www-authenticate', 'Basic realm="Venna queues", charset="UTF-8"');
    response.status(status).json(body);
  };
}
