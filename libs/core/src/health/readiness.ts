import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, ServiceUnavailableException } from '@nestjs/common';
import {
  HealthCheckService,
  type HealthCheckResult,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import type { Queue } from 'bullmq';
import { randomBase62 } from '../ids/ids';
import { QueueName } from '../queue/jobs';
import { FileStorage } from '../storage/file-storage';
import { withDeadline } from '../time/deadline';

/** Each dependency gets this long to answer; a hung one is reported down rather than holding the probe. */
const CHECK_DEADLINE_MS = 3000;

export interface Readiness {
  ready: boolean;
  /** Terminus' report: `{status, info, error, details}`, one entry per dependency. */
  report: HealthCheckResult;
}

/**
 * Whether this process can do its work: PostgreSQL answers, Redis answers, and storage takes a
 * write. Used by the api's /health/ready and the worker's.
 */
@Injectable()
export class ReadinessCheck {
  /** Written and removed by every storage probe; one per process, so probes of many processes never collide. */
  private readonly probeKey = `health/probe-${randomBase62(12)}`;

  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicator: HealthIndicatorService,
    private readonly storage: FileStorage,
    @InjectQueue(QueueName.Batches) private readonly queue: Queue,
  ) {}

  async check(): Promise<Readiness> {
    try {
      const report = await this.health.check([
        () => this.database.pingCheck('database', { timeout: CHECK_DEADLINE_MS }),
        () => this.probe('redis', () => this.queue.count()),
        () => this.probe('storage', () => this.storageRoundTrip()),
      ]);
      return { ready: true, report };
    } catch (error) {
      if (error instanceof ServiceUnavailableException) {
        return { ready: false, report: error.getResponse() as HealthCheckResult };
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
      return indicator.down({ message: (error as Error).message });
    }
  }

  private async storageRoundTrip(): Promise<void> {
    await this.storage.put(this.probeKey, Buffer.from('ok'));
    await this.storage.delete(this.probeKey);
  }
}
