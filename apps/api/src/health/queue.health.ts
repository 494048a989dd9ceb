import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import type { Queue } from 'bullmq';
import { QueueName } from '@app/core';

@Injectable()
export class QueueHealthIndicator {
  constructor(
    @InjectQueue(QueueName.Batches) private readonly queue: Queue,
    private readonly indicator: HealthIndicatorService,
  ) {}

  async check(key: string) {
    const indicator = this.indicator.check(key);
    try {
      return indicator.up({ waiting: await this.queue.count() });
    } catch (error) {
      return indicator.down({ message: (error as Error).message });
    }
  }
}
