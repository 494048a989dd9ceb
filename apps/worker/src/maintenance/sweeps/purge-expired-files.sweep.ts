import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { FileStorage, OPEN_STATUSES } from '@app/core';
import type { Sweep } from '../sweep';

/** Expired files are deleted, row first, then bytes. */
@Injectable()
export class PurgeExpiredFilesSweep implements Sweep {
  private readonly logger = new Logger(PurgeExpiredFilesSweep.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly storage: FileStorage,
  ) {}

  async run(): Promise<void> {
    const [expired]: [{ storage_key: string }[], number] = await this.dataSource.query(
      // The input of a batch still running is kept until the batch ends, so no line is dropped: it already
      // answers 404 to the workspace, and its bytes go with the next sweep after the batch ends.
      `DELETE FROM files WHERE id IN (
         SELECT f.id FROM files f
         WHERE f.expires_at < clock_timestamp()
           AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.input_file_id = f.id AND b.status = ANY($1))
         LIMIT 1000)
       RETURNING storage_key`,
      [OPEN_STATUSES],
    );
    for (const { storage_key } of expired) {
      await this.storage.delete(storage_key);
    }
    if (expired.length > 0) {
      this.logger.log(`Deleted ${expired.length} expired file(s)`);
    }
  }
}
