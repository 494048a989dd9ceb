import 'reflect-metadata';
import type { Server } from 'node:http';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { createRootLogger, loadEnvironmentOrExit, runMigrations } from '@app/core';
import { AppModule } from './app.module';
import { jsonBodyOptions } from './common/json-body';
import { OpenAIExceptionFilter } from './common/openai-exception.filter';
import { StorableTextPipe } from './common/storable-text.pipe';
import { openAIValidationPipe } from './common/validation.pipe';
import { ApiEnvironment } from './config/api-environment';
import { HttpMetrics } from './metrics/http-metrics';
import { requestId } from './request-id.middleware';
import { setupSwagger } from './swagger';

async function bootstrap(): Promise<void> {
  const env = loadEnvironmentOrExit(ApiEnvironment);
  const root = createRootLogger(env, 'api');
  const logger = root.child({ context: 'Api' });
  try {
    const applied = await runMigrations(env.DATABASE_URL);
    logger.info(applied.length ? `Applied migrations: ${applied.join(', ')}` : 'Database schema is up to date');
  } catch (error) {
    logger.fatal(`Could not migrate the database at DATABASE_URL: ${(error as Error).message}`);
    process.exit(1);
  }
  const app = await NestFactory.create<NestExpressApplication>(AppModule.register(env, root), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  // Who the client is (req.ip), for the limit of failed authentications per address.
  app.set('trust proxy', env.trustProxy);
  app.use(app.get(HttpMetrics).middleware);
  // Express would hash every JSON body for an ETag that no OpenAI client sends back.
  app.set('etag', false);
  app.use(requestId);
  // In place of Nest's own JSON parser (it registers none once this one is there): refuses deep nesting.
  app.useBodyParser('json', jsonBodyOptions);
  app.useGlobalFilters(new OpenAIExceptionFilter());
  app.useGlobalPipes(new StorableTextPipe(), openAIValidationPipe);
  app.enableShutdownHooks();
  setupSwagger(app);
  const server: Server = app.getHttpServer();
  // Node cuts any request after 5 minutes by default, which ends slow uploads with a bare error: limit idleness instead.
  server.requestTimeout = 0;
  server.setTimeout(env.HTTP_IDLE_TIMEOUT_MS);
  await app.listen(env.PORT, env.HOST);
  logger.info(`Listening on port ${env.PORT} (${env.HOST}); Swagger UI at /docs`);
}

void bootstrap();
