import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { RequestWorkspace } from './request-workspace';

/** The caller's workspace, as attached by ApiKeyGuard. */
export const CurrentWorkspace = createParamDecorator((_: unknown, context: ExecutionContext): RequestWorkspace => {
  const workspace = context.switchToHttp().getRequest<Request>().workspace;
  if (!workspace) {
    throw new Error('CurrentWorkspace used on a route without ApiKeyGuard');
  }
  return workspace;
});
