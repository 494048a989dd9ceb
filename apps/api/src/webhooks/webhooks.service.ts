import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import {
  AppError,
  enqueueWebhookDeliveries,
  ErrorCode,
  type JobName,
  type JobOf,
  newWebhookDeliveryId,
  newWebhookId,
  newWebhookSecret,
  NonPublicAddressError,
  publicAddressesOf,
  QueueName,
  WEBHOOK_EVENT_TYPES,
  WebhookDeliveryEntity,
  WebhookEntity,
  type WebhookEventEntity,
  WebhookRepository,
  WorkspaceRepository,
} from '@app/core';
import { ApiEnvironment } from '../config/api-environment';
import type { CreateWebhookDto } from './dto/create-webhook.dto';
import type { ListWebhookDeliveriesQueryDto } from './dto/list-webhook-deliveries.query.dto';

/** A delivery with the event it carries. */
export interface DeliveryView {
  delivery: WebhookDeliveryEntity;
  event: WebhookEventEntity;
}

/** Webhooks of workspaces, and the record of their deliveries (the worker does the delivering). */
@Injectable()
export class WebhooksService {
  private readonly logger = new Logger(WebhooksService.name);

  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly workspaces: WorkspaceRepository,
    @InjectQueue(QueueName.WebhookDeliveries) private readonly queue: Queue<JobOf<JobName.DeliverWebhook>>,
    private readonly env: ApiEnvironment,
  ) {
    this.queue.on('error', (error) => this.logger.warn(`Queue connection: ${error.message}`));
  }

  /** The returned entity carries the secret: the only time it leaves the service. */
  async create(workspaceId: string, request: CreateWebhookDto): Promise<WebhookEntity> {
    await this.requireWorkspace(workspaceId);
    if (!this.env.WEBHOOK_ALLOW_PRIVATE_URLS) {
      await requirePublicUrl(request.url);
    }
    const webhook = Object.assign(new WebhookEntity(), {
      id: newWebhookId(),
      workspaceId,
      url: request.url,
      events: request.events ?? [...WEBHOOK_EVENT_TYPES],
      secret: newWebhookSecret(),
    });
    return this.webhooks.insert(webhook);
  }

  async list(workspaceId: string): Promise<WebhookEntity[]> {
    await this.requireWorkspace(workspaceId);
    return this.webhooks.ofWorkspace(workspaceId);
  }

  /** Its deliveries go with it, owed ones included: nothing is sent to it any more. */
  async delete(id: string): Promise<void> {
    if (!(await this.webhooks.delete(id))) {
      throw new AppError(ErrorCode.WebhookNotFound, `No such webhook: ${id}`, 'id');
    }
  }

  async listDeliveries(
    webhookId: string,
    query: ListWebhookDeliveriesQueryDto,
  ): Promise<{ items: DeliveryView[]; hasMore: boolean }> {
    const workspaceId = await this.webhooks.workspaceOf(webhookId);
    if (workspaceId === null) {
      throw new AppError(ErrorCode.WebhookNotFound, `No such webhook: ${webhookId}`, 'id');
    }
    const page = await this.webhooks.deliveryPage(workspaceId, webhookId, query);
    return { items: await this.withEvents(page.items), hasMore: page.hasMore };
  }

  /**
   * Sends a delivery's event again, as a new delivery (its own attempts and retries) to the same webhook.
   * If the queue cannot take it now, the row stays owed and the worker's requeue-owed-webhooks sweep enqueues it.
   */
  async replay(deliveryId: string): Promise<DeliveryView> {
    const original = await this.webhooks.findDelivery(deliveryId);
    if (!original) {
      throw new AppError(ErrorCode.WebhookDeliveryNotFound, `No such webhook delivery: ${deliveryId}`, 'id');
    }
    const replay = await this.webhooks.insertDelivery(
      Object.assign(new WebhookDeliveryEntity(), {
        id: newWebhookDeliveryId(),
        workspaceId: original.workspaceId,
        webhookId: original.webhookId,
        eventId: original.eventId,
        attempts: 0,
        lastStatus: null,
        lastError: null,
        lastAttemptAt: null,
        deliveredAt: null,
        gaveUpAt: null,
      }),
    );
    await enqueueWebhookDeliveries(this.queue, [replay.id]).catch((error: Error) =>
      this.logger.warn(
        `Could not enqueue webhook delivery ${replay.id} (the requeue-owed-webhooks sweep will): ${error.message}`,
      ),
    );
    const [view] = await this.withEvents([replay]);
    return view;
  }

  private async withEvents(deliveries: WebhookDeliveryEntity[]): Promise<DeliveryView[]> {
    const events = await this.webhooks.events([...new Set(deliveries.map((d) => d.eventId))]);
    const byId = new Map(events.map((event) => [event.id, event]));
    return deliveries.flatMap((delivery) => {
      const event = byId.get(delivery.eventId);
      return event ? [{ delivery, event }] : [];
    });
  }

  private async requireWorkspace(id: string): Promise<void> {
    if (!(await this.workspaces.exists(id))) {
      throw new AppError(ErrorCode.WorkspaceNotFound, `No such workspace: ${id}`, 'id');
    }
  }
}

/**
 * Refuses a URL whose host is, or resolves to, an address that is not public (loopback, private, link-local …).
 * A name that does not resolve now is taken: DNS may learn it later, and the worker checks the addresses again
 * at every send, which is the guard; this check tells the operator at once.
 */
async function requirePublicUrl(url: string): Promise<void> {
  const host = URL.parse(url)?.hostname;
  if (host === undefined) {
    throw new AppError(ErrorCode.InvalidRequest, 'url must be an http:// or https:// URL', 'url');
  }
  await publicAddressesOf(host).catch((error: unknown) => {
    if (error instanceof NonPublicAddressError) {
      throw new AppError(
        ErrorCode.InvalidRequest,
        `url must reach a public address: ${error.message} (WEBHOOK_ALLOW_PRIVATE_URLS=true allows it)`,
        'url',
      );
    }
    // Not resolvable now (ENOTFOUND, EAI_AGAIN …): taken, as said above.
  });
}
