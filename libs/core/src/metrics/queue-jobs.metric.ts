import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { JobType, Queue } from 'bullmq';
import { Gauge, Registry } from 'prom-client';
import { QueueName } from '../queue/jobs';
import { withDeadline } from '../time/deadline';

const STATES: JobType[] = ['waiting', 'prioritized', 'active', 'delayed', 'waiting-children', 'completed', 'failed'];

/** A scrape never waits on Redis longer than this; an unreachable Redis leaves the gauge empty. */
const COUNT_DEADLINE_MS = 2000;

/** `venna_queue_jobs{queue,state}`: read from Redis (getJobCounts) when scraped, never kept up to date between scrapes. */
@Injectable()
export class QueueJobsMetric {
  constructor(
    registry: Registry,
    @InjectQueue(QueueName.Batches) batches: Queue,
    @InjectQueue(QueueName.BatchChunks) chunks: Queue,
    @InjectQueue(QueueName.WebhookDeliveries) webhooks: Queue,
    @InjectQueue(QueueName.ProviderBatches) providerBatches: Queue,
    @InjectQueue(QueueName.Maintenance) maintenance: Queue,
  ) {
    const queues = [batches, chunks, webhooks, providerBatches, maintenance];
    new Gauge({
      name: 'venna_queue_jobs',
      help: 'Jobs in each queue by state, counted in Redis at scrape time',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const queue of queues) {
          const counts = await withDeadline(queue.getJobCounts(...STATES), COUNT_DEADLINE_MS, 'Queue counts').catch(
            () => null,
          );
          if (!counts) {
            continue;
          }
          for (const state of STATES) {
            this.labels(queue.name, state).set(counts[state] ?? 0);
          }
        }
      },
    });
  }
}
