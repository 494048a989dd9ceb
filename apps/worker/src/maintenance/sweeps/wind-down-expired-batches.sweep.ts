import { Injectable } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { Queue } from 'bullmq';
import {
  BatchRepository,
  dropPendingChunks,
  type JobName,
  type JobOf,
  ProviderBatchRepository,
  QueueName,
} from '@app/core';
import type { Sweep } from '../sweep';

/** An open batch past its window has its waiting chunks dropped, so it expires without waiting its turn. */
@Injectable()
export class WindDownExpiredBatchesSweep implements Sweep {
  constructor(
    private readonly batches: BatchRepository,
    private readonly providerBatches: ProviderBatchRepository,
    @InjectQueue(QueueName.Batches) private readonly queue: Queue<JobOf<JobName.RunBatch>>,
  ) {}

  async run(): Promise<void> {
    for (const id of await this.batches.pastWindow()) {
      await dropPendingChunks(this.queue, id, this.providerBatches);
    }
  }
}
