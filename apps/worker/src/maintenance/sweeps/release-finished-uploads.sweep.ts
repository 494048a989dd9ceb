import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { FileStorage, FINISHED_UPLOAD, releaseUploadStorage } from '@app/core';
import type { Sweep } from '../sweep';

/** Finished uploads whose storage is released per run; successive runs continue. */
const UPLOAD_RELEASE_PAGE = 100;

/**
 * Every upload no longer open (expired, or cancelled or completed by an api that died before cleaning up) has its
 * storage released once (releaseUploadStorage).
 */
@Injectable()
export class ReleaseFinishedUploadsSweep implements Sweep {
  private readonly logger = new Logger(ReleaseFinishedUploadsSweep.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly storage: FileStorage,
  ) {}

  async run(): Promise<void> {
    const finished: { id: string }[] = await this.dataSource.query(
      `SELECT id FROM uploads u WHERE released_at IS NULL AND ${FINISHED_UPLOAD} LIMIT $1`,
      [UPLOAD_RELEASE_PAGE],
    );
    let released = 0;
    for (const { id } of finished) {
      released += (await releaseUploadStorage(this.dataSource, this.storage, id)) ? 1 : 0;
    }
    if (released > 0) {
      this.logger.log(`Released the storage of ${released} finished upload(s)`);
    }
  }
}
