import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { InjectDataSource } from '@nestjs/typeorm';
import { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import {
  deliverWebhookJobId,
  dropPendingChunks,
  enqueueBatch,
  enqueueWebhookDeliveries,
  FileStorage,
  FINISHED_UPLOAD,
  type JobName,
  releaseUploadStorage,
  uploadAssemblyKey,
  type JobOf,
  OPEN_STATUSES,
  QueueName,
  runBatchJobId,
  TERMINAL_STATUSES,
} from '@app/core';
import { JournalStore } from '../batch-runner/journal/journal-store';
import { WorkerEnvironment } from '../config/worker-environment';
import { WebhookDeliveries } from '../webhooks/webhook-deliveries';

/**
 * Periodic housekeeping, safe to run in every worker at once:
 * - an open batch whose job is gone (the api died between storing and enqueueing) is enqueued again,
 *   and one whose job failed for good while the database was away is retried: no batch stays open forever;
 * - an open batch past its window has its waiting chunks dropped, so it expires without waiting its turn;
 * - a finished batch whose journal was not purged (a crash right after its final commit) is purged;
 * - a webhook delivery still owed whose job is gone (a crash between the commit that wrote it and its
 *   enqueue, or Redis losing its data) is enqueued again, and one whose job failed without giving up (the
 *   database was away) is retried: every event is delivered at least once;
 * - expired files are deleted, row first, then bytes;
 * - uploads not completed within their hour expire, and every upload no longer open (expired, or cancelled or
 *   completed by an api that died before cleaning up) has its storage released once (releaseUploadStorage);
 * - expired `Idempotency-Key`s are deleted (the api already ignores them);
 * - writes left unfinished by a killed process are removed once nothing has touched them for an hour
 *   (a full walk of storage, so at most once an hour per process); an open upload's assembly is not one.
 */
/** Longer than any write stays idle: an upload idle this long has already been cut (HTTP_IDLE_TIMEOUT_MS). */
const ABANDONED_WRITE_AGE_MS = 3600_000;

/**
 * A completion under way holds its upload past the hour; only one still holding it this much later is taken
 * for a completion that died with its api.
 */
const UPLOAD_COMPLETION_GRACE_SECONDS = 3600;

/** Finished uploads whose storage is released per sweep; successive sweeps continue. */
const UPLOAD_RELEASE_PAGE = 100;

/** Owed webhook deliveries checked per sweep; successive sweeps continue where the last one stopped. */
const WEBHOOK_SWEEP_PAGE = 500;

@Injectable()
export class Sweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(Sweeper.name);
  private timer?: NodeJS.Timeout;
  private lastAbandonedWriteSweep = 0;
  /** The last owed delivery checked, so the next sweep goes on from there (null: from the start). */
  private webhookSweepCursor: string | null = null;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly storage: FileStorage,
    private readonly journal: JournalStore,
    @InjectQueue(QueueName.Batches) private readonly queue: Queue<JobOf<JobName.RunBatch>>,
    @InjectQueue(QueueName.WebhookDeliveries) private readonly webhookQueue: Queue<JobOf<JobName.DeliverWebhook>>,
    private readonly webhookDeliveries: WebhookDeliveries,
    private readonly env: WorkerEnvironment,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), this.env.BATCH_SWEEP_INTERVAL_MS);
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async sweep(): Promise<void> {
    try {
      await this.requeueOrphans();
      await this.windDownExpired();
      await this.requeueOwedWebhookDeliveries();
      await this.purgeFinishedJournals();
      await this.purgeExpiredFiles();
      await this.expireUploads();
      await this.releaseFinishedUploads();
      await this.purgeExpiredIdempotencyKeys();
      await this.removeAbandonedWrites();
    } catch (error) {
      this.logger.warn(`Sweep failed, will try again: ${(error as Error).message}`);
    }
  }

  private async requeueOrphans(): Promise<void> {
    const rows: { id: string; workspace_id: string }[] = await this.dataSource.query(
      `SELECT id, workspace_id FROM batches
       WHERE status = ANY($1) AND created_at < clock_timestamp() - make_interval(secs => $2)`,
      [OPEN_STATUSES, this.env.BATCH_SWEEP_INTERVAL_MS / 1000],
    );
    for (const { id, workspace_id } of rows) {
      const fields = { batch_id: id, workspace_id };
      const job = await this.queue.getJob(runBatchJobId(id));
      if (!job) {
        await enqueueBatch(this.queue, { id, workspaceId: workspace_id });
        this.logger.warn(fields, `Batch ${id} was open without a job: enqueued again`);
      } else if (await job.isFailed()) {
        await job.retry('failed');
        this.logger.warn(fields, `Batch ${id} is open but its job had failed: retrying`);
      }
    }
  }

  private async windDownExpired(): Promise<void> {
    const rows: { id: string }[] = await this.dataSource.query(
      `SELECT id FROM batches WHERE status IN ('validating', 'in_progress') AND expires_at < clock_timestamp()`,
    );
    for (const { id } of rows) {
      await dropPendingChunks(this.queue, id, this.dataSource.manager);
    }
  }

  private async requeueOwedWebhookDeliveries(): Promise<void> {
    const ids = await this.webhookDeliveries.owedPage(
      this.webhookSweepCursor,
      this.env.BATCH_SWEEP_INTERVAL_MS / 1000,
      WEBHOOK_SWEEP_PAGE,
    );
    this.webhookSweepCursor = ids.length < WEBHOOK_SWEEP_PAGE ? null : (ids.at(-1) ?? null);
    const orphans: string[] = [];
    for (const id of ids) {
      const job = await this.webhookQueue.getJob(deliverWebhookJobId(id));
      if (!job) {
        orphans.push(id);
      } else if (await job.isFailed()) {
        await job.retry('failed');
        this.logger.warn(`Webhook delivery ${id} is owed but its job had failed: retrying`);
      }
    }
    if (orphans.length > 0) {
      await enqueueWebhookDeliveries(this.webhookQueue, orphans);
      this.logger.warn(`${orphans.length} webhook delivery(ies) were owed without a job: enqueued again`);
    }
  }

  private async purgeFinishedJournals(): Promise<void> {
    const rows: { batch_id: string }[] = await this.dataSource.query(
      `SELECT DISTINCT r.batch_id FROM batch_line_results r JOIN batches b ON b.id = r.batch_id
       WHERE b.status = ANY($1) LIMIT 100`,
      [TERMINAL_STATUSES],
    );
    for (const { batch_id } of rows) {
      await this.journal.purgeFinished(batch_id);
    }
  }

  private async purgeExpiredFiles(): Promise<void> {
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

  private async expireUploads(): Promise<void> {
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

  private async releaseFinishedUploads(): Promise<void> {
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

  private async purgeExpiredIdempotencyKeys(): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE ctid IN (
         SELECT ctid FROM idempotency_keys WHERE expires_at < clock_timestamp() LIMIT 5000)`,
    );
  }

  private async removeAbandonedWrites(): Promise<void> {
    if (Date.now() - this.lastAbandonedWriteSweep < ABANDONED_WRITE_AGE_MS) {
      return;
    }
    this.lastAbandonedWriteSweep = Date.now();
    const open: { workspace_id: string; id: string }[] = await this.dataSource.query(
      `SELECT workspace_id, id FROM uploads WHERE status IN ('pending', 'completing') AND assembly_id IS NOT NULL`,
    );
    const removed = await this.storage.removeAbandonedWrites(
      new Date(Date.now() - ABANDONED_WRITE_AGE_MS),
      new Set(open.map((upload) => uploadAssemblyKey(upload.workspace_id, upload.id))),
    );
    if (removed > 0) {
      this.logger.log(`Removed ${removed} unfinished write(s) left by killed processes`);
    }
  }
}
