import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import type { CoreEnvironment, LogLevelName } from '../config/env';

const ORDER: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

export function logLevelsFrom(level: LogLevelName): LogLevel[] {
  const nestLevel: LogLevel = level === 'info' ? 'log' : level;
  return ORDER.slice(0, ORDER.indexOf(nestLevel) + 1);
}

/** Nest's logger, as JSON lines in production (LOG_FORMAT=json) or readable text in development. */
export function createLogger(env: Pick<CoreEnvironment, 'LOG_LEVEL' | 'LOG_FORMAT'>, context: string): ConsoleLogger {
  return new ConsoleLogger(context, {
    json: env.LOG_FORMAT === 'json',
    colors: env.LOG_FORMAT !== 'json' && Boolean(process.stdout.isTTY),
    logLevels: logLevelsFrom(env.LOG_LEVEL),
  });
}
