import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TERMINAL_STATUSES } from '@app/core';
import { JournalStore } from '../../batch-runner/journal/journal-store';
import type { Sweep } from '../sweep';

/** A finished batch whose journal was not purged (a crash right after its final commit) is purged. */
@Injectable()
export class PurgeFinishedJournalsSweep implements Sweep {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly journal: JournalStore,
  ) {}

  async run(): Promise<void> {
    const rows: { batch_id: string }[] = await this.dataSource.query(
      `SELECT DISTINCT r.batch_id FROM batch_line_results r JOIN batches b ON b.id = r.batch_id
       WHERE b.status = ANY($1) LIMIT 100`,
      [TERMINAL_STATUSES],
    );
    for (const { batch_id } of rows) {
      await this.journal.purgeFinished(batch_id);
    }
  }
}
