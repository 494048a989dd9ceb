import { ApiProperty } from '@nestjs/swagger';
import {
  unixSeconds,
  type WebhookDeliveryEntity,
  type WebhookEntity,
  WEBHOOK_EVENT_TYPES,
  type WebhookEventEntity,
  type WebhookEventType,
} from '@app/core';
import { ListDto } from '../../common/list-page';

const unixOrNull = (date: Date | null): number | null => (date ? unixSeconds(date) : null);

export class WebhookDto {
  @ApiProperty({ example: 'wh_4Wb0C3Qm6n0aB8Xk2rT9yZ1d' }) id!: string;
  @ApiProperty({ enum: ['webhook'] }) object!: 'webhook';
  @ApiProperty() workspace_id!: string;
  @ApiProperty({ example: 'https://example.com/hooks/venna' }) url!: string;
  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES, isArray: true }) events!: WebhookEventType[];
  @ApiProperty({ example: 1763900000 }) created_at!: number;

  static from(entity: WebhookEntity): WebhookDto {
    return {
      id: entity.id,
      object: 'webhook',
      workspace_id: entity.workspaceId,
      url: entity.url,
      events: entity.events,
      created_at: unixSeconds(entity.createdAt),
    };
  }
}

export class CreatedWebhookDto extends WebhookDto {
  @ApiProperty({
    description: 'The signing secret (Standard Webhooks). Shown once, never again.',
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  })
  secret!: string;

  static withSecret(entity: WebhookEntity): CreatedWebhookDto {
    return { ...WebhookDto.from(entity), secret: entity.secret };
  }
}

export class WebhookListDto {
  @ApiProperty({ enum: ['list'] }) object!: 'list';
  @ApiProperty({ type: [WebhookDto] }) data!: WebhookDto[];
}

export class DeletedWebhookDto {
  @ApiProperty() id!: string;
  @ApiProperty({ enum: ['webhook'] }) object!: 'webhook';
  @ApiProperty() deleted!: boolean;
}

export class WebhookDeliveryDto {
  @ApiProperty({ example: 'whdel_0aB8Xk2rT9yZ1d4Wb0C3Qm6n' }) id!: string;
  @ApiProperty({ enum: ['webhook.delivery'] }) object!: 'webhook.delivery';
  @ApiProperty() webhook_id!: string;
  @ApiProperty({
    example: 'evt_0aB8Xk2rT9yZ1d4Wb0C3Qm6n',
    description: 'The event id (body id and webhook-id header).',
  })
  event_id!: string;

  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES }) event_type!: WebhookEventType;
  @ApiProperty() batch_id!: string;
  @ApiProperty({ description: 'Attempts made so far.' }) attempts!: number;
  @ApiProperty({ nullable: true, type: Number, description: 'HTTP status of the last answer; null if none.' })
  last_status!: number | null;

  @ApiProperty({ nullable: true, type: String, description: 'Why the last attempt got no answer.' })
  last_error!: string | null;

  @ApiProperty() delivered!: boolean;
  @ApiProperty() created_at!: number;
  @ApiProperty({ nullable: true, type: Number }) last_attempt_at!: number | null;
  @ApiProperty({ nullable: true, type: Number }) delivered_at!: number | null;
  @ApiProperty({ nullable: true, type: Number, description: 'When retrying stopped after the last attempt failed.' })
  gave_up_at!: number | null;

  static from(delivery: WebhookDeliveryEntity, event: WebhookEventEntity): WebhookDeliveryDto {
    return {
      id: delivery.id,
      object: 'webhook.delivery',
      webhook_id: delivery.webhookId,
      event_id: event.id,
      event_type: event.type,
      batch_id: event.batchId,
      attempts: delivery.attempts,
      last_status: delivery.lastStatus,
      last_error: delivery.lastError,
      delivered: delivery.deliveredAt !== null,
      created_at: unixSeconds(delivery.createdAt),
      last_attempt_at: unixOrNull(delivery.lastAttemptAt),
      delivered_at: unixOrNull(delivery.deliveredAt),
      gave_up_at: unixOrNull(delivery.gaveUpAt),
    };
  }
}

export class WebhookDeliveryListDto extends ListDto(WebhookDeliveryDto) {}
