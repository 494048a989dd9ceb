import { hostname } from 'node:os';
import { type Level, type Logger, type LoggerOptions, pino } from 'pino';
import PinoPretty from 'pino-pretty';
import type { CoreEnvironment, LogLevelName } from '../config/env';
import { serializeError } from './error-serializer';

/** LOG_LEVEL keeps Nest's names: `log` is pino's info, `verbose` its trace. */
const PINO_LEVELS: Record<LogLevelName, Level> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  info: 'info',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/**
 * Credentials never reach a log line: workspace keys (vk_…) and the admin key travel in these headers.
 * Bodies are never logged, so a key shown once by the admin API is not either.
 */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

export type AppName = 'api' | 'worker';

/**
 * The one pino logger of a process, which nestjs-pino and every Nest `Logger` write through:
 * one JSON object per line with LOG_FORMAT=json, one readable line per entry with LOG_FORMAT=text.
 */
export function createRootLogger(env: Pick<CoreEnvironment, 'LOG_LEVEL' | 'LOG_FORMAT'>, app: AppName): Logger {
  const options: LoggerOptions = {
    level: PINO_LEVELS[env.LOG_LEVEL],
    base: { app, pid: process.pid, hostname: hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
  };
  if (env.LOG_FORMAT === 'json') {
    return pino({ ...options, formatters: { level: (label) => ({ level: label }) } });
  }
  const readable = PinoPretty({
    colorize: Boolean(process.stdout.isTTY),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'app,pid,hostname,context',
    messageFormat: '{if context}[{context}] {end}{msg}',
    singleLine: true,
    // Lines in order with the process's own writes, and none lost to process.exit().
    sync: true,
  });
  return pino(options, readable);
}
