import { Injectable } from '@nestjs/common';
import { Gauge, Registry } from 'prom-client';
import { ProviderBatchRepository, type ProviderBatchState, withDeadline } from '@app/core';

const STATES: (ProviderBatchState | 'discard_owed')[] = ['submitting', 'running', 'ingesting', 'discard_owed'];

/** A scrape never waits on PostgreSQL longer than this; an unreachable database leaves the gauge empty. */
const COUNT_DEADLINE_MS = 2000;

/**
 * `venna_provider_batches{upstream,state}`: the stages of shards that are with a provider now (written, running
 * there, or being copied back), and those done whose copies there are still to be deleted (`discard_owed`: it grows
 * while a provider will not take the deletes), counted in PostgreSQL when scraped, so every worker reports the
 * whole fleet's.
 */
@Injectable()
export class ProviderBatchesMetric {
  constructor(registry: Registry, stages: ProviderBatchRepository) {
    new Gauge({
      name: 'venna_provider_batches',
      help: 'Provider batch stages not yet done, by upstream and state (submitting, running at the provider, ingesting its results), and done ones whose provider copies are still to be deleted (discard_owed)',
      labelNames: ['upstream', 'state'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        const rows = await withDeadline(stages.countStagesByState(), COUNT_DEADLINE_MS, 'Provider batch counts').catch(
          () => null,
        );
        for (const row of rows ?? []) {
          if (STATES.includes(row.state)) {
            this.labels(row.upstream, row.state).set(row.count);
          }
        }
      },
    });
  }
}
