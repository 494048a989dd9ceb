import { Injectable, Logger } from '@nestjs/common';
import { FileStorage, UploadRepository } from '@app/core';
import type { Sweep } from '../sweep';

/** Finished uploads whose storage is released per run; successive runs continue. */
const UPLOAD_RELEASE_PAGE = 100;

/**
 * Every upload no longer open (expired, or cancelled or completed by an api that died before cleaning up) has its
 * storage released once (UploadRepository.releaseStorage).
 */
@Injectable()
export class ReleaseFinishedUploadsSweep implements Sweep {
  private readonly logger = new Logger(ReleaseFinishedUploadsSweep.name);

  constructor(
    private readonly uploads: UploadRepository,
    private readonly storage: FileStorage,
  ) {}

  async run(): Promise<void> {
    let released = 0;
    for (const id of await this.uploads.unreleased(UPLOAD_RELEASE_PAGE)) {
      released += (await this.uploads.releaseStorage(this.storage, id)) ? 1 : 0;
    }
    if (released > 0) {
      this.logger.log(`Released the storage of ${released} finished upload(s)`);
    }
  }
}
