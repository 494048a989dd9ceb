import { Injectable, Logger } from '@nestjs/common';
import { FileStorage, UploadRepository } from '@app/core';
import type { Sweep } from '../sweep';

/** Longer than any write stays idle: an upload idle this long has already been cut (HTTP_IDLE_TIMEOUT_MS). */
const ABANDONED_WRITE_AGE_MS = 3600_000;

/**
 * Writes left unfinished by a killed process are removed once nothing has touched them for an hour; an open
 * upload's assembly is not one. A full walk of storage, so it runs once an hour across the fleet, and once when a
 * worker starts: a worker starting is often one replacing a killed process.
 */
@Injectable()
export class RemoveAbandonedWritesSweep implements Sweep {
  private readonly logger = new Logger(RemoveAbandonedWritesSweep.name);
  readonly every = ABANDONED_WRITE_AGE_MS;
  readonly atStart = true;

  constructor(
    private readonly uploads: UploadRepository,
    private readonly storage: FileStorage,
  ) {}

  async run(): Promise<void> {
    const keep = new Set(await this.uploads.openAssemblyKeys());
    const removed = await this.storage.removeAbandonedWrites(new Date(Date.now() - ABANDONED_WRITE_AGE_MS), keep);
    if (removed > 0) {
      this.logger.log(`Removed ${removed} unfinished write(s) left by killed processes`);
    }
  }
}
