import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Options } from 'pino-http';

/** Probes and scrapes come every few seconds: their access lines would drown the rest. */
const QUIET_PATHS = /^\/(health(\/|$|\?)|metrics(\?|$))/;

/**
 * One access line per request (method, route, status, time), and on every line logged while serving
 * it the `request_id` set by the request-id middleware. Headers are logged with credentials redacted
 * (see REDACTED_LOG_PATHS); bodies never are.
 */
export const httpLogging: Omit<Options, 'logger'> = {
  quietReqLogger: true,
  customAttributeKeys: { reqId: 'request_id' },
  autoLogging: { ignore: (request: IncomingMessage) => QUIET_PATHS.test(request.url ?? '') },
  serializers: {
    // pino's request fields without `params` and `query` (the url holds them); headers stay, credentials redacted.
    req: ({ id, method, url, headers, remoteAddress }: Record<string, unknown>) => ({
      id,
      method,
      url,
      headers,
      remoteAddress,
    }),
  },
  // A 5xx is logged with its stack where it happened (the exception filter); pino-http's own stand-in error adds nothing.
  customErrorObject: (_request: IncomingMessage, _response: ServerResponse, _error: Error, value: object) => ({
    ...value,
    err: undefined,
  }),
  customLogLevel: (_request: IncomingMessage, response: ServerResponse, error?: Error) => {
    if (error || response.statusCode >= 500) {
      return 'error';
    }
    return response.statusCode >= 400 ? 'warn' : 'info';
  },
};
