import { Injectable } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { InjectDataSource } from '@nestjs/typeorm';
import { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { dropPendingChunks, type JobName, type JobOf, QueueName } from '@app/core';
import type { Sweep } from '../sweep';

/** An open batch past its window has its waiting chunks dropped, so it expires without waiting its turn. */
@Injectable()
export class WindDownExpiredBatchesSweep implements Sweep {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectQueue(QueueName.Batches) private readonly queue: Queue<JobOf<JobName.RunBatch>>,
  ) {}

  async run(): Promise<void> {
    const rows: { id: string }[] = await this.dataSource.query(
      `SELECT id FROM batches WHERE status IN ('validating', 'in_progress') AND expires_at < clock_timestamp()`,
    );
    for (const { id } of rows) {
      await dropPendingChunks(this.queue, id, this.dataSource.manager);
    }
  }
}
