import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { Logger } from 'pino';
import type { Options as HttpLoggingOptions } from 'pino-http';

/**
 * Routes every Nest `Logger` of the app through `root` (see createRootLogger). The api adds its HTTP
 * options (request ids, access lines); the worker has no HTTP and binds batch fields per job instead
 * (PinoLogger.runInContext).
 */
@Module({})
export class LoggingModule {
  static forRoot(root: Logger, http: Omit<HttpLoggingOptions, 'logger'> = {}): DynamicModule {
    return {
      module: LoggingModule,
      imports: [LoggerModule.forRoot({ pinoHttp: { ...http, logger: root } })],
      exports: [LoggerModule],
    };
  }
}
