import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { createRootLogger, loadEnvironmentOrExit, redactUrl } from '@app/core';
import { WorkerEnvironment } from './config/worker-environment';
import { MonitoringServer } from './monitoring/monitoring-server';
import { defaultUpstream, UpstreamRoutes } from './upstream/upstream-routes';
import { WorkerModule } from './worker.module';

async function bootstrap(): Promise<void> {
  const env = loadEnvironmentOrExit(WorkerEnvironment);
  const root = createRootLogger(env, 'worker');
  const logger = root.child({ context: 'Worker' });
  let routes: UpstreamRoutes;
  try {
    routes = UpstreamRoutes.load(
      defaultUpstream(env.UPSTREAM_BASE_URL, env.UPSTREAM_API_KEY, env.UPSTREAM_MAX_CONCURRENCY),
      env.UPSTREAMS_FILE,
      process.env,
    );
  } catch (error) {
    process.stderr.write(`Configuration error: ${(error as Error).message}\n`);
    process.exit(1);
  }
  // No API: the worker talks to Redis, PostgreSQL, storage and the upstream, and serves only health and metrics.
  let app: INestApplicationContext;
  try {
    app = await NestFactory.createApplicationContext(WorkerModule.register(env, routes, root), {
      bufferLogs: true,
      abortOnError: false,
    });
  } catch (error) {
    // E.g. WORKER_HTTP_HOST not an address of this host: one clear line, not a crash.
    logger.fatal({ err: error }, `Could not start the worker: ${(error as Error).message}`);
    process.exit(1);
  }
  app.useLogger(app.get(Logger));
  const shutdown = (signal: NodeJS.Signals) => {
    logger.info(`${signal} received: draining`);
    app.close().then(
      () => process.exit(0),
      (error: Error) => {
        logger.error({ err: error }, 'Shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  logger.info(
    `Worker started: ${env.WORKER_CHUNK_JOBS} chunk jobs, ${env.WORKER_CONCURRENCY} upstream requests in flight, upstream ${redactUrl(env.UPSTREAM_BASE_URL)}; ` +
      app.get(MonitoringServer).summary,
  );
}

void bootstrap();
