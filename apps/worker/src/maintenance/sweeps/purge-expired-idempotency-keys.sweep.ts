import { Injectable } from '@nestjs/common';
import { IdempotencyKeyRepository } from '@app/core';
import type { Sweep } from '../sweep';

/** Expired keys deleted per run; successive runs continue. */
const PURGE_PAGE = 5000;

/** Expired `Idempotency-Key`s are deleted (the api already ignores them). */
@Injectable()
export class PurgeExpiredIdempotencyKeysSweep implements Sweep {
  constructor(private readonly keys: IdempotencyKeyRepository) {}

  async run(): Promise<void> {
    await this.keys.deleteExpired(PURGE_PAGE);
  }
}
