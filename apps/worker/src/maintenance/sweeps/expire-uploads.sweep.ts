import { Injectable, Logger } from '@nestjs/common';
import { UploadRepository } from '@app/core';
import type { Sweep } from '../sweep';

/**
 * A completion under way holds its upload past the hour; only one still holding it this much later is taken
 * for a completion that died with its api.
 */
const UPLOAD_COMPLETION_GRACE_SECONDS = 3600;

/** Uploads not completed within their hour expire (their storage goes with ReleaseFinishedUploadsSweep). */
@Injectable()
export class ExpireUploadsSweep implements Sweep {
  private readonly logger = new Logger(ExpireUploadsSweep.name);

  constructor(private readonly uploads: UploadRepository) {}

  async run(): Promise<void> {
    const expired = await this.uploads.expireOverdue(UPLOAD_COMPLETION_GRACE_SECONDS);
    if (expired > 0) {
      this.logger.log(`Expired ${expired} upload(s) not completed in time`);
    }
  }
}
