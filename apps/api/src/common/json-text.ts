import { Header } from '@nestjs/common';

/**
 * On a handler that returns JSON text already written (WireShape): Express then sends the string exactly as
 * res.json sends an object's JSON (res.json stringifies, sets this type unless one is set, and calls res.send),
 * same bytes, same Content-Type and Content-Length. An error thrown by the handler is written as JSON anyway.
 */
export const JsonText = (): MethodDecorator => Header('Content-Type', 'application/json; charset=utf-8');
