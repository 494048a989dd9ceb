import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Queue } from 'bullmq';
import { QueueName } from '@app/core';
import { ApiEnvironment } from '../config/api-environment';
import { adminBasicAuth } from './basic-auth';

const QUEUE_DASHBOARD_PATH = '/admin/queues';

/**
 * Bull Board over the batch and webhook queues at /admin/queues, behind Basic auth with ADMIN_API_KEY; with the
 * admin API off it is not mounted (404). Read-only: jobs are retried and re-driven by the workers
 * and the sweeps, and removing one by hand could strand its batch.
 */
@Injectable()
export class QueueDashboard implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly env: ApiEnvironment,
    @InjectQueue(QueueName.Batches) private readonly batches: Queue,
    @InjectQueue(QueueName.BatchChunks) private readonly chunks: Queue,
    @InjectQueue(QueueName.WebhookDeliveries) private readonly webhooks: Queue,
    @InjectQueue(QueueName.ProviderBatches) private readonly shards: Queue,
    @InjectQueue(QueueName.Maintenance) private readonly maintenance: Queue,
  ) {}

  /** Runs after Nest has mounted its routes and before its 404 handler, so the dashboard's paths are reached. */
  onModuleInit(): void {
    if (!this.env.ADMIN_API_KEY) {
      return;
    }
    const server = new ExpressAdapter().setBasePath(QUEUE_DASHBOARD_PATH);
    createBullBoard({
      queues: [
        new BullMQAdapter(this.batches, {
          readOnlyMode: true,
          description: 'One job per batch: validate, fan out, finalize',
        }),
        new BullMQAdapter(this.chunks, { readOnlyMode: true, description: 'One job per chunk of input lines' }),
        new BullMQAdapter(this.webhooks, { readOnlyMode: true, description: 'One job per webhook delivery' }),
        new BullMQAdapter(this.shards, {
          readOnlyMode: true,
          description: "One job per shard on a provider's own Batch API, waiting delayed between polls",
        }),
        new BullMQAdapter(this.maintenance, { readOnlyMode: true, description: 'One job scheduler per sweep' }),
      ],
      serverAdapter: server,
      options: { uiConfig: { boardTitle: 'Venna queues' } },
    });
    this.adapterHost.httpAdapter.use(
      QUEUE_DASHBOARD_PATH,
      adminBasicAuth(this.env.ADMIN_API_KEY),
      server.getRouter() as unknown,
    );
  }
}
