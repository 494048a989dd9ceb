import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { type JobType, Queue } from 'bullmq';
import { type JobOf, QueueName, SWEEP_JOB_OPTIONS, type SweepName, SWEEPS } from '@app/core';
import { WorkerEnvironment } from '../config/worker-environment';
import type { Sweep } from './sweep';
import { Sweeps } from './sweeps';

/** The states of a job not yet run or running: a working schedule always has one such job. */
const PENDING: JobType[] = ['active', 'waiting', 'delayed', 'prioritized'];

/**
 * Keeps one BullMQ job scheduler per sweep on the maintenance queue, so each tick of a sweep is one job, run by one
 * worker, however many there are. A starting worker upserts them all with its own intervals (the last worker to start
 * sets them) and queues one run of each sweep that also runs at start. Then, every BATCH_SWEEP_INTERVAL_MS, it puts
 * back a schedule that has no pending job (Redis restarted without its data, or BullMQ failed to add the next run):
 * without it no sweep would run again, and the batches and deliveries Redis lost would never be re-driven.
 */
@Injectable()
export class SweepSchedules implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SweepSchedules.name);
  private timer?: NodeJS.Timeout;
  private upserted = false;
  /** A check still waiting on Redis (away, or paused): the next tick does not pile another on it. */
  private checking = false;

  constructor(
    @InjectQueue(QueueName.Maintenance) private readonly queue: Queue<JobOf<SweepName>, void, SweepName>,
    private readonly sweeps: Sweeps,
    private readonly env: WorkerEnvironment,
  ) {}

  onApplicationBootstrap(): void {
    // Not awaited: a worker starting while Redis is away still starts, and schedules once Redis is back.
    this.tick();
    this.timer = setInterval(() => this.tick(), this.env.BATCH_SWEEP_INTERVAL_MS);
  }

  /** One check, its failure logged here: nothing it does may reject unhandled and stop the worker. */
  private tick(): void {
    this.check().catch((error: Error) =>
      this.logger.warn(`Could not check the sweep schedules, will try again: ${error.message}`),
    );
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    if (this.checking) {
      return;
    }
    this.checking = true;
    try {
      if (this.upserted) {
        await this.restoreLost();
      } else {
        await this.upsertAll();
        this.upserted = true;
      }
    } finally {
      this.checking = false;
    }
  }

  private async upsertAll(): Promise<void> {
    for (const name of SWEEPS) {
      const sweep = this.sweeps.byName[name];
      await this.upsert(name, sweep);
      if (sweep.atStart) {
        await this.queue.add(name, {}, SWEEP_JOB_OPTIONS);
      }
    }
  }

  private async restoreLost(): Promise<void> {
    const pending = await this.queue.getJobs(PENDING);
    const scheduled = new Set(pending.map((job) => job.repeatJobKey));
    for (const name of SWEEPS) {
      if (!scheduled.has(name)) {
        await this.upsert(name, this.sweeps.byName[name]);
        this.logger.warn(`The schedule of ${name} had no next run (Redis lost its data?): scheduled again`);
      }
    }
  }

  private async upsert(name: SweepName, sweep: Sweep): Promise<void> {
    await this.queue.upsertJobScheduler(
      name,
      { every: sweep.every ?? this.env.BATCH_SWEEP_INTERVAL_MS },
      { name, data: {}, opts: SWEEP_JOB_OPTIONS },
    );
  }
}
