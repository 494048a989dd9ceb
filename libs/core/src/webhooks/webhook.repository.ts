import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In } from 'typeorm';
import { keysetPage, type Page } from '../database/reads/keyset-page';
import { PreparedReads } from '../database/reads/prepared-reads';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import { WebhookEventEntity } from './webhook-event.entity';
import { WebhookEntity } from './webhook.entity';

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
}
