import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { createLogger, loadEnvironmentOrExit } from '@app/core';
import { WorkerEnvironment } from './config/worker-environment';
import { UpstreamRoutes } from './upstream/upstream-routes';
import { WorkerModule } from './worker.module';

async function bootstrap(): Promise<void> {
  const env = loadEnvironmentOrExit(WorkerEnvironment);
  const logger = createLogger(env, 'Worker');
  let routes: UpstreamRoutes;
  try {
    routes = UpstreamRoutes.load(
      { baseUrl: env.UPSTREAM_BASE_URL, apiKey: env.UPSTREAM_API_KEY, maxConcurrency: env.UPSTREAM_MAX_CONCURRENCY },
      env.UPSTREAMS_FILE,
      process.env,
    );
  } catch (error) {
    process.stderr.write(`Configuration error: ${(error as Error).message}\n`);
    process.exit(1);
  }
  // No HTTP server: the worker only talks to Redis, PostgreSQL, storage and the upstream.
  const app = await NestFactory.createApplicationContext(WorkerModule.register(env, routes), { logger });
  const shutdown = (signal: NodeJS.Signals) => {
    logger.log(`${signal} received: draining`);
    app.close().then(
      () => process.exit(0),
      (error: Error) => {
        logger.error(`Shutdown failed: ${error.message}`, error.stack);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  logger.log(
    `Worker started: ${env.WORKER_CHUNK_JOBS} chunk jobs, ${env.WORKER_CONCURRENCY} upstream requests in flight, upstream ${env.UPSTREAM_BASE_URL}`,
  );
}

void bootstrap();
