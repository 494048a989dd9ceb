import { Controller, Get, Header, HttpStatus, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { HealthCheckResult } from '@nestjs/terminus';
import type { Response } from 'express';
import { ReadinessCheck } from '@app/core';

/** For orchestrators and load balancers: no key, no envelope, never cached. */
@ApiExcludeController()
@Controller('health')
export class HealthController {
  constructor(private readonly readiness: ReadinessCheck) {}

  /** The process is up and serving HTTP (restart it if not). */
  @Get('live')
  @Header('cache-control', 'no-store')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** PostgreSQL, Redis and storage answer (send it no traffic if not): 200, or 503 naming what is down. `/health` is an alias. */
  @Get(['ready', ''])
  @Header('cache-control', 'no-store')
  async ready(@Res({ passthrough: true }) response: Response): Promise<HealthCheckResult> {
    const { ready, report } = await this.readiness.check();
    if (!ready) {
      response.status(HttpStatus.SERVICE_UNAVAILABLE);
    }
    return report;
  }
}
