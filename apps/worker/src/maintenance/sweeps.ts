import { Injectable } from '@nestjs/common';
import { JobName, type SweepName } from '@app/core';
import type { Sweep } from './sweep';
import { DiscardProviderFilesSweep } from './sweeps/discard-provider-files.sweep';
import { ExpireUploadsSweep } from './sweeps/expire-uploads.sweep';
import { PurgeExpiredFilesSweep } from './sweeps/purge-expired-files.sweep';
import { PurgeExpiredIdempotencyKeysSweep } from './sweeps/purge-expired-idempotency-keys.sweep';
import { PurgeFinishedJournalsSweep } from './sweeps/purge-finished-journals.sweep';
import { ReleaseFinishedUploadsSweep } from './sweeps/release-finished-uploads.sweep';
import { RemoveAbandonedWritesSweep } from './sweeps/remove-abandoned-writes.sweep';
import { RequeueOrphanBatchesSweep } from './sweeps/requeue-orphan-batches.sweep';
import { RequeueOwedWebhooksSweep } from './sweeps/requeue-owed-webhooks.sweep';
import { WindDownExpiredBatchesSweep } from './sweeps/wind-down-expired-batches.sweep';

export const SWEEP_PROVIDERS = [
  RequeueOrphanBatchesSweep,
  WindDownExpiredBatchesSweep,
  RequeueOwedWebhooksSweep,
  PurgeFinishedJournalsSweep,
  PurgeExpiredFilesSweep,
  ExpireUploadsSweep,
  ReleaseFinishedUploadsSweep,
  PurgeExpiredIdempotencyKeysSweep,
  RemoveAbandonedWritesSweep,
  DiscardProviderFilesSweep,
];

/** Every sweep by the name of its job: the one handler the maintenance processor runs for it, and what is scheduled. */
@Injectable()
export class Sweeps {
  readonly byName: Readonly<Record<SweepName, Sweep>>;

  constructor(
    requeueOrphanBatches: RequeueOrphanBatchesSweep,
    windDownExpiredBatches: WindDownExpiredBatchesSweep,
    requeueOwedWebhooks: RequeueOwedWebhooksSweep,
    purgeFinishedJournals: PurgeFinishedJournalsSweep,
    purgeExpiredFiles: PurgeExpiredFilesSweep,
    expireUploads: ExpireUploadsSweep,
    releaseFinishedUploads: ReleaseFinishedUploadsSweep,
    purgeExpiredIdempotencyKeys: PurgeExpiredIdempotencyKeysSweep,
    removeAbandonedWrites: RemoveAbandonedWritesSweep,
    discardProviderFiles: DiscardProviderFilesSweep,
  ) {
    this.byName = {
      [JobName.RequeueOrphanBatches]: requeueOrphanBatches,
      [JobName.WindDownExpiredBatches]: windDownExpiredBatches,
      [JobName.RequeueOwedWebhooks]: requeueOwedWebhooks,
      [JobName.PurgeFinishedJournals]: purgeFinishedJournals,
      [JobName.PurgeExpiredFiles]: purgeExpiredFiles,
      [JobName.ExpireUploads]: expireUploads,
      [JobName.ReleaseFinishedUploads]: releaseFinishedUploads,
      [JobName.PurgeExpiredIdempotencyKeys]: purgeExpiredIdempotencyKeys,
      [JobName.RemoveAbandonedWrites]: removeAbandonedWrites,
      [JobName.DiscardProviderFiles]: discardProviderFiles,
    };
  }
}
