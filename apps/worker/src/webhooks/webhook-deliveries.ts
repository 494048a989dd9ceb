import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { WebhookEventType } from '@app/core';
import type { AttemptOutcome, OutgoingEvent } from './webhook-sender';

export interface OwedDelivery extends OutgoingEvent {
  id: string;
  webhookId: string;
}

interface OwedRow {
  id: string;
  webhook_id: string;
  url: string;
  secret: string;
  event_id: string;
  type: WebhookEventType;
  batch_id: string;
  created_at: Date;
}

/** The worker's reads and writes of the outbox: what a delivery sends, and what each attempt found. */
@Injectable()
export class WebhookDeliveries {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The delivery with its webhook and event, while it is still owed (not delivered, not given up, webhook not deleted). */
  async owed(deliveryId: string): Promise<OwedDelivery | null> {
    const rows: OwedRow[] = await this.dataSource.query(
      `SELECT d.id, d.webhook_id, w.url, w.secret, e.id AS event_id, e.type, e.batch_id, e.created_at
         FROM webhook_deliveries d
         JOIN webhooks w ON w.id = d.webhook_id
         JOIN webhook_events e ON e.id = d.event_id
        WHERE d.id = $1 AND d.delivered_at IS NULL AND d.gave_up_at IS NULL`,
      [deliveryId],
    );
    const row = rows.at(0);
    return row
      ? {
          id: row.id,
          webhookId: row.webhook_id,
          url: row.url,
          secret: row.secret,
          eventId: row.event_id,
          type: row.type,
          batchId: row.batch_id,
          createdAt: row.created_at,
        }
      : null;
  }

  /** Counts an attempt and what it found; `giveUp` marks a failed last attempt, so nothing retries it again. */
  async recordAttempt(deliveryId: string, outcome: AttemptOutcome, giveUp: boolean): Promise<void> {
    await this.dataSource.query(
      `UPDATE webhook_deliveries
          SET attempts = attempts + 1, last_status = $2, last_error = $3, last_attempt_at = clock_timestamp(),
              delivered_at = CASE WHEN $4 THEN clock_timestamp() END,
              gave_up_at = CASE WHEN $5 THEN clock_timestamp() END
        WHERE id = $1`,
      [deliveryId, outcome.status, outcome.error, outcome.delivered, giveUp],
    );
  }

  /**
   * Owed deliveries older than `minAgeSeconds`, in (created_at, id) order after the delivery `afterId`
   * (from the start when null), so successive sweeps walk all of them however many there are.
   */
  async owedPage(afterId: string | null, minAgeSeconds: number, limit: number): Promise<string[]> {
    const rows: { id: string }[] = await this.dataSource.query(
      `SELECT d.id FROM webhook_deliveries d
        WHERE d.delivered_at IS NULL AND d.gave_up_at IS NULL
          AND d.created_at < clock_timestamp() - make_interval(secs => $1)
          AND ($2::varchar IS NULL
               OR (d.created_at, d.id) > (SELECT c.created_at, c.id FROM webhook_deliveries c WHERE c.id = $2))
        ORDER BY d.created_at, d.id
        LIMIT $3`,
      [minAgeSeconds, afterId, limit],
    );
    return rows.map((row) => row.id);
  }
}
