import { Injectable } from '@nestjs/common';
import { ResultJournalRepository } from '@app/core';
import { JournalStore } from '../../batch-runner/journal/journal-store';
import type { Sweep } from '../sweep';

/** Ended batches purged per run: a backlog (after a long outage) is worked through over several runs. */
const PURGES_PER_RUN = 100;

/** A finished batch whose journal was not purged (a crash right after its final commit) is purged. */
@Injectable()
export class PurgeFinishedJournalsSweep implements Sweep {
  constructor(
    private readonly journals: ResultJournalRepository,
    private readonly journal: JournalStore,
  ) {}

  async run(): Promise<void> {
    for (const batchId of await this.journals.endedWithJournal(PURGES_PER_RUN)) {
      await this.journal.purgeFinished(batchId);
    }
  }
}
