import { Controller, Get, Header, Res, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { Registry } from 'prom-client';
import { AdminKeyGuard } from '../admin/admin-key.guard';

/** Prometheus text format, for the operator's scraper: Bearer ADMIN_API_KEY; absent (404) while the admin API is off. */
@ApiExcludeController()
@Controller('metrics')
@UseGuards(AdminKeyGuard)
export class MetricsController {
  constructor(private readonly registry: Registry) {}

  @Get()
  @Header('cache-control', 'no-store')
  async scrape(@Res({ passthrough: true }) response: Response): Promise<string> {
    response.type(this.registry.contentType);
    return this.registry.metrics();
  }
}
