import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In } from 'typeorm';
import { keysetPage, type Page } from '../database/reads/keyset-page';
import { PreparedReads } from '../database/reads/prepared-reads';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import type { WebhookEventType } from './webhook-event-type';
import { WebhookEventEntity } from './webhook-event.entity';
import { WebhookEntity } from './webhook.entity';
import { relayCommittedDeliveries } from './webhook-outbox';

/** What one delivery sends: the event, to one webhook. */
export interface OutgoingEvent {
  url: string;
  secret: string;
  eventId: string;
  type: WebhookEventType;
  batchId: string;
  createdAt: Date;
}

/** A delivery not yet delivered nor given up, with what it sends. */
export interface OwedDelivery extends OutgoingEvent {
  id: string;
  webhookId: string;
}

/** What one attempt at a delivery found. */
export interface AttemptOutcome {
  delivered: boolean;
  /** The receiver's HTTP status; null when it gave none. */
  status: number | null;
  /** Why there was no answer. */
  error: string | null;
}

/** Webhooks, their deliveries and the events they carry (tables webhooks, webhook_deliveries, webhook_events). */
@Injectable()
export class WebhookRepository {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly reads: PreparedReads,
  ) {}

  private get webhooks() {
    return this.dataSource.getRepository(WebhookEntity);
  }

  private get deliveries() {
    return this.dataSource.getRepository(WebhookDeliveryEntity);
  }

  insert(webhook: WebhookEntity): Promise<WebhookEntity> {
    return this.webhooks.save(webhook);
  }

  ofWorkspace(workspaceId: string): Promise<WebhookEntity[]> {
    return this.webhooks.find({ where: { workspaceId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  /** The webhook's workspace, or null if there is no such webhook. */
  async workspaceOf(webhookId: string): Promise<string | null> {
    const webhook = await this.webhooks.findOne({ select: { id: true, workspaceId: true }, where: { id: webhookId } });
    return webhook?.workspaceId ?? null;
  }

  /** Deletes the webhook and, by cascade, its deliveries; false if there was none. */
  async delete(id: string): Promise<boolean> {
    return ((await this.webhooks.delete({ id })).affected ?? 0) > 0;
  }

  /** A page of the webhook's deliveries, newest first. */
  deliveryPage(
    workspaceId: string,
    webhookId: string,
    request: { limit: number; after?: string },
  ): Promise<Page<WebhookDeliveryEntity>> {
    return keysetPage(
      {
        source: this.reads.entitySource(WebhookDeliveryEntity),
        name: 'webhook-deliveries.list',
        filter: (p) => ` AND t.webhook_id = ${p(2)}`,
        values: [webhookId],
        types: ['text'],
      },
      {
        limit: request.limit,
        after: request.after,
        direction: 'DESC',
        workspaceId,
        cursorExists: (id) => this.deliveries.existsBy({ id, webhookId }),
        itemName: 'webhook delivery',
      },
    );
  }

  findDelivery(id: string): Promise<WebhookDeliveryEntity | null> {
    return this.deliveries.findOneBy({ id });
  }

  insertDelivery(delivery: WebhookDeliveryEntity): Promise<WebhookDeliveryEntity> {
    return this.deliveries.save(delivery);
  }

  events(ids: string[]): Promise<WebhookEventEntity[]> {
    return this.dataSource.getRepository(WebhookEventEntity).findBy({ id: In(ids) });
  }

  /** Hands `relay` the deliveries each transaction wrote (recordWebhookEvent), once it has committed. */
  onDeliveriesCommitted(relay: (deliveryIds: string[]) => void): void {
    relayCommittedDeliveries(this.dataSource, relay);
  }

  /** The delivery with its webhook and event, while it is still owed (not delivered, not given up, webhook not deleted). */
  async owedDelivery(deliveryId: string): Promise<OwedDelivery | null> {
    const [delivery] = await this.dataSource.query<OwedDelivery[]>(
      `SELECT d.id, d.webhook_id AS "webhookId", w.url, w.secret,
              e.id AS "eventId", e.type, e.batch_id AS "batchId", e.created_at AS "createdAt"
         FROM webhook_deliveries d
         JOIN webhooks w ON w.id = d.webhook_id
         JOIN webhook_events e ON e.id = d.event_id
        WHERE d.id = $1 AND d.delivered_at IS NULL AND d.gave_up_at IS NULL`,
      [deliveryId],
    );
    return delivery ?? null;
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
   * The ids of owed deliveries older than `minAgeSeconds`, in (created_at, id) order after the delivery `afterId`
   * (from the start when null), so successive calls walk all of them however many there are.
   */
  async owedDeliveryPage(afterId: string | null, minAgeSeconds: number, limit: number): Promise<string[]> {
    const rows = await this.dataSource.query<{ id: string }[]>(
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
