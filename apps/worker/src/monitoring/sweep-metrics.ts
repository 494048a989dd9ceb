import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type SweepName, SWEEPS } from '@app/core';

/**
 * The housekeeping sweeps' instruments, by sweep. Each run is taken by one worker of the fleet, so these count the
 * runs this process took: sum the runs, and take the newest last success, across workers.
 */
@Injectable()
export class SweepMetrics {
  private readonly runs: Counter<'sweep' | 'outcome'>;
  private readonly duration: Histogram<'sweep'>;
  private readonly lastSuccess: Gauge<'sweep'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.runs = new Counter({
      name: 'venna_sweep_runs_total',
      help: 'Runs of each housekeeping sweep this worker took, by outcome (ok, or error: it runs again at its next tick)',
      labelNames: ['sweep', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'venna_sweep_duration_seconds',
      help: 'Time one run of each housekeeping sweep took in this worker, failed runs included',
      labelNames: ['sweep'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    });
    this.lastSuccess = new Gauge({
      name: 'venna_sweep_last_success_timestamp_seconds',
      help: 'When each housekeeping sweep last ended well in this worker (Unix time; absent until it has)',
      labelNames: ['sweep'],
      registers,
    });
    // Both outcomes appear at 0 before the first run, so rates and alerts see them from the start.
    for (const sweep of SWEEPS) {
      this.runs.labels(sweep, 'ok').inc(0);
      this.runs.labels(sweep, 'error').inc(0);
    }
  }

  /** Counts one run of `sweep` that took `seconds`. */
  ran(sweep: SweepName, ok: boolean, seconds: number): void {
    this.runs.labels(sweep, ok ? 'ok' : 'error').inc();
    this.duration.labels(sweep).observe(seconds);
    if (ok) {
      this.lastSuccess.labels(sweep).setToCurrentTime();
    }
  }
}
