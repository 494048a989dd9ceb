import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { Logger } from 'pino';
import type { Options as HttpLoggingOptions } from 'pino-http';
import { serializeError } from './error-serializer';

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
      imports: [
        LoggerModule.forRoot({
          // Every Nest `Logger` writes through pino-http's child of `root`, which would set pino's own `err`
          // serializer again: errors keep theirs, which leaves out what a failed statement carried.
          pinoHttp: { ...http, serializers: { ...http.serializers, err: serializeError }, logger: root },
        }),
      ],
      exports: [LoggerModule],
    };
  }
}
