import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Sweep } from '../sweep';

/** Expired `Idempotency-Key`s are deleted (the api already ignores them). */
@Injectable()
export class PurgeExpiredIdempotencyKeysSweep implements Sweep {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async run(): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE ctid IN (
         SELECT ctid FROM idempotency_keys WHERE expires_at < clock_timestamp() LIMIT 5000)`,
    );
  }
}
