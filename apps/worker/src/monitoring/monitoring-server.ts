import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import { ReadinessCheck } from '@app/core';
import { WorkerEnvironment } from '../config/worker-environment';

/**
 * The worker's only HTTP: GET /health/live, /health/ready and /metrics on WORKER_HTTP_PORT, for a
 * private network (no auth). Up before the queues are worked and closed last on shutdown, so a
 * draining worker can still be scraped. WORKER_HTTP_PORT=0 turns it off.
 */
@Injectable()
export class MonitoringServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MonitoringServer.name);
  private server: Server | undefined;

  constructor(
    private readonly env: WorkerEnvironment,
    private readonly readiness: ReadinessCheck,
    private readonly registry: Registry,
  ) {}

  /** The address it listens on, e.g. http://0.0.0.0:9464, or null when off. */
  get url(): string | null {
    return this.server ? `http://${this.env.WORKER_HTTP_HOST}:${this.env.WORKER_HTTP_PORT}` : null;
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
    // A taken port stops start-up: a worker that cannot be probed would be restarted by its orchestrator anyway.
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.env.WORKER_HTTP_PORT, this.env.WORKER_HTTP_HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
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

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  response.end(body);
}
