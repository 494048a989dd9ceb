import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, ServiceUnavailableException } from '@nestjs/common';
import {
  HealthCheckService,
  type HealthCheckResult,
  type HealthIndicatorResult,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import type { Queue } from 'bullmq';
import { performance } from 'node:perf_hooks';
import { randomBase62 } from '../ids/ids';
import { QueueName } from '../queue/jobs';
import { FileStorage } from '../storage/file-storage';
import { withDeadline } from '../time/deadline';

/** Each dependency gets this long to answer; a hung one is reported down rather than holding the probe. */
const CHECK_DEADLINE_MS = 3000;
/**
 * A result this recent is answered again, and callers during a round of checks share it: the endpoint needs no
 * key, so a flood of probes costs one round of checks (one storage write) per second, not one each.
 */
const REUSE_MS = 1000;

export interface Readiness {
  ready: boolean;
  /** Terminus' report: `{status, info, error, details}`, one entry per dependency. */
  report: HealthCheckResult;
}

/**
 * Whether this process can do its work: PostgreSQL answers, Redis answers, and storage takes a write. Used by the
 * api's /health/ready and the worker's. The report says which dependency is down, not why (the text of an error,
 * with its addresses and driver details, is for the logs, where terminus writes it).
 */
@Injectable()
export class ReadinessCheck {
  /** Written and removed by every storage probe; one per process, so probes of many processes never collide. */
  private readonly probeKey = `health/probe-${randomBase62(12)}`;
  private latest: { readiness: Promise<Readiness>; settledAt: number | null } | undefined;

  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicator: HealthIndicatorService,
    private readonly storage: FileStorage,
    @InjectQueue(QueueName.Batches) private readonly queue: Queue,
  ) {}

  /** The round of checks in progress, or one that ended less than REUSE_MS ago, or a new one. */
  check(): Promise<Readiness> {
    const latest = this.latest;
    if (latest && (latest.settledAt === null || performance.now() - latest.settledAt < REUSE_MS)) {
      return latest.readiness;
    }
    const round = { readiness: this.checkAll(), settledAt: null as number | null };
    const settled = () => (round.settledAt = performance.now());
    round.readiness.then(settled, settled);
    this.latest = round;
    return round.readiness;
  }

  private async checkAll(): Promise<Readiness> {
    try {
      const report = await this.health.check([
        () => this.database.pingCheck('database', { timeout: CHECK_DEADLINE_MS }),
        () => this.probe('redis', () => this.queue.count()),
        () => this.probe('storage', () => this.storageRoundTrip()),
      ]);
      return { ready: true, report: statusesOnly(report) };
    } catch (error) {
      if (error instanceof ServiceUnavailableException) {
        return { ready: false, report: statusesOnly(error.getResponse() as HealthCheckResult) };
      }
      throw error;
    }
  }

  private async probe(key: string, work: () => Promise<unknown>) {
    const indicator = this.indicator.check(key);
    try {
      await withDeadline(work(), CHECK_DEADLINE_MS, key);
      return indicator.up();
    } catch (error) {
      return indicator.down({ message: (error as Error).message }); // logged by terminus, then left out
    }
  }

  private async storageRoundTrip(): Promise<void> {
    await this.storage.put(this.probeKey, Buffer.from('ok'));
    await this.storage.delete(this.probeKey);
  }
}

/** Each dependency's status alone. */
function statusesOnly(report: HealthCheckResult): HealthCheckResult {
  const statuses = (results: Partial<HealthIndicatorResult>): HealthIndicatorResult =>
    Object.fromEntries(
      Object.entries(results).flatMap(([key, result]) => (result ? [[key, { status: result.status }]] : [])),
    );
  return {
    status: report.status,
    info: report.info && statuses(report.info),
    error: report.error && statuses(report.error),
    details: statuses(report.details),
  };
}
