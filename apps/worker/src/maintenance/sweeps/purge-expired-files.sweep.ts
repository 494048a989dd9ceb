import { Injectable, Logger } from '@nestjs/common';
import { FileRepository, FileStorage } from '@app/core';
import type { Sweep } from '../sweep';

/** Expired files deleted per run; successive runs continue. */
const PURGE_PAGE = 1000;

/** Expired files are deleted, row first, then bytes (the input of a batch still running waits for its end). */
@Injectable()
export class PurgeExpiredFilesSweep implements Sweep {
  private readonly logger = new Logger(PurgeExpiredFilesSweep.name);

  constructor(
    private readonly files: FileRepository,
    private readonly storage: FileStorage,
  ) {}

  async run(): Promise<void> {
    const storageKeys = await this.files.deleteExpired(PURGE_PAGE);
    for (const key of storageKeys) {
      await this.storage.delete(key);
    }
    if (storageKeys.length > 0) {
      this.logger.log(`Deleted ${storageKeys.length} expired file(s)`);
    }
  }
}
