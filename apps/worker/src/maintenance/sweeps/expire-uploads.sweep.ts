import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
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

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async run(): Promise<void> {
    const [expired]: [{ id: string }[], number] = await this.dataSource.query(
      `UPDATE uploads SET status = 'expired'
       WHERE (status = 'pending' AND expires_at < clock_timestamp())
          OR (status = 'completing' AND expires_at < clock_timestamp() - make_interval(secs => $1))
       RETURNING id`,
      [UPLOAD_COMPLETION_GRACE_SECONDS],
    );
    if (expired.length > 0) {
      this.logger.log(`Expired ${expired.length} upload(s) not completed in time`);
    }
  }
}
