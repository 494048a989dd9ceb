import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import { type JobOf, QueueName, type SweepName, SWEEPS } from '@app/core';
import { SweepMetrics } from '../monitoring/sweep-metrics';
import type { Sweep } from './sweep';
import { Sweeps } from './sweeps';

type SweepJob = Job<JobOf<SweepName>, void, string>;

/**
 * Runs each sweep's jobs with that sweep's one handler. A failed run is logged and counted, and not retried
 * (SWEEP_JOB_OPTIONS): its scheduler runs the sweep again at the next tick. As many runs at once as there are
 * sweeps, so a long one (a walk of storage) holds up none of the others.
 */
@Processor(QueueName.Maintenance, { concurrency: SWEEPS.length })
export class MaintenanceProcessor extends WorkerHost {
  private readonly logger = new Logger(MaintenanceProcessor.name);

  constructor(
    private readonly sweeps: Sweeps,
    private readonly metrics: SweepMetrics,
  ) {
    super();
  }

  async process(job: SweepJob): Promise<void> {
    const name = job.name as SweepName;
    // A sweep only a newer worker knows (a rolling deploy): this one leaves it failed, the newer ones run it.
    const sweep: Sweep | undefined = this.sweeps.byName[name];
    if (!sweep) {
      throw new Error(`No sweep named ${job.name} in this worker`);
    }
    const started = performance.now();
    let ok = false;
    try {
      await sweep.run();
      ok = true;
    } finally {
      this.metrics.ran(name, ok, (performance.now() - started) / 1000);
    }
  }

  @OnWorkerEvent('failed')
  onFailed(job: SweepJob | undefined, error: Error): void {
    this.logger.warn(`Sweep ${job?.name} failed, it runs again at its next tick: ${error.message}`);
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    this.logger.error(`Maintenance queue worker: ${error.message}`);
  }
}
