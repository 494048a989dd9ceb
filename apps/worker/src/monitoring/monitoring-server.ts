import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import { ReadinessCheck } from '@app/core';
import { WorkerEnvironment } from '../config/worker-environment';

/**
 * The worker's only HTTP: GET /health/live, /health/ready and /metrics on WORKER_HTTP_PORT, for a
 * private network (no auth). Up before the queues are worked and closed last on shutdown, so a
 * draining worker can still be scraped. WORKER_HTTP_PORT=0 turns it off; a port already taken turns it off
 * for this process only, with a warning.
 */
@Injectable()
export class MonitoringServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MonitoringServer.name);
  private server: Server | undefined;
  /** Why there is no server, for the start-up line. */
  private off = 'health and metrics off (WORKER_HTTP_PORT=0)';

  constructor(
    private readonly env: WorkerEnvironment,
    private readonly readiness: ReadinessCheck,
    private readonly registry: Registry,
  ) {}

  /** For the start-up line: where health and metrics are served (e.g. http://127.0.0.1:9464), or why not. */
  get summary(): string {
    const host = this.env.WORKER_HTTP_HOST.includes(':') ? `[${this.env.WORKER_HTTP_HOST}]` : this.env.WORKER_HTTP_HOST;
    return this.server ? `health and metrics on http://${host}:${this.env.WORKER_HTTP_PORT}` : this.off;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.env.WORKER_HTTP_PORT === 0) {
      return;
    }
    const server = createServer((request, response) => {
      this.serve(request, response).catch((error: Error) => {
        this.logger.error(`Monitoring request ${request.url} failed: ${error.message}`);
        if (!response.headersSent) {
          send(response, 500, 'application/json', JSON.stringify({ status: 'error' }));
        } else {
          response.destroy();
        }
      });
    });
    try {
      await listen(server, this.env.WORKER_HTTP_PORT, this.env.WORKER_HTTP_HOST);
    } catch (error) {
      // Another worker on this host has the port (two `npm run start:worker` with the defaults): this one still
      // works batches, unprobed. Any other failure (an address not on this host, a port it may not use) is a
      // setting that can never work, so it still stops start-up.
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
        throw error;
      }
      const where = `port ${this.env.WORKER_HTTP_PORT} on ${this.env.WORKER_HTTP_HOST}`;
      this.off = `health and metrics off (${where} in use)`;
      this.logger.warn(
        `${where} in use: health and metrics off for this process (set WORKER_HTTP_PORT to another port)`,
      );
      return;
    }
    this.server = server;
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) {
      return;
    }
    this.server = undefined;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return send(response, 405, 'application/json', JSON.stringify({ error: 'GET only' }));
    }
    switch (path) {
      case '/health/live':
        return send(response, 200, 'application/json', JSON.stringify({ status: 'ok' }));
      case '/health/ready': {
        const { ready, report } = await this.readiness.check();
        return send(response, ready ? 200 : 503, 'application/json', JSON.stringify(report));
      }
      case '/metrics':
        return send(response, 200, this.registry.contentType, await this.registry.metrics());
      default:
        return send(response, 404, 'application/json', JSON.stringify({ error: `No ${path} here` }));
    }
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  response.end(body);
}
