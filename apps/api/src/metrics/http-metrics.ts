import { Injectable } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { performance } from 'node:perf_hooks';
import { Histogram, Registry } from 'prom-client';

/**
 * `http_request_duration_seconds{method,route,status_code}`: every request from its first byte to its
 * last, labelled by route template (`/v1/files/:file_id`), never by raw path, so ids make no series.
 */
@Injectable()
export class HttpMetrics {
  private readonly duration: Histogram<'method' | 'route' | 'status_code'>;

  constructor(registry: Registry) {
    this.duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP requests served by the api, by method, route template and status (aborted: the client left first)',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
      registers: [registry],
    });
  }

  /** Express middleware, mounted before everything else. */
  readonly middleware = (request: Request, response: Response, next: NextFunction): void => {
    const started = performance.now();
    response.once('close', () => {
      const status = response.writableFinished ? String(response.statusCode) : 'aborted';
      this.duration.labels(request.method, routeOf(request), status).observe((performance.now() - started) / 1000);
    });
    next();
  };
}

/**
 * The template of the route that served the request (`/v1/files/:file_id`); under a mounted sub-app
 * (the queue dashboard) its mount path with `/*`; requests nothing matched share one label.
 * Wildcard "routes" are middleware mounts, not the route that answered.
 */
function routeOf(request: Request): string {
  const path = (request as { route?: { path?: unknown } }).route?.path;
  if (typeof path === 'string' && !path.includes('*')) {
    return `${request.baseUrl}${path}`;
  }
  return request.baseUrl ? `${request.baseUrl}/*` : 'unmatched';
}
