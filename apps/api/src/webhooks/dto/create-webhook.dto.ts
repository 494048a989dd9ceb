import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayNotEmpty, ArrayUnique, IsArray, IsIn, IsOptional, IsString, IsUrl, MaxLength } from 'class-validator';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '@app/core';

const URL_MESSAGE = 'url must be an http:// or https:// URL';
const EVENTS_MESSAGE = `events must be a list of distinct event types among ${WEBHOOK_EVENT_TYPES.join(', ')}`;

export class CreateWebhookDto {
  @ApiProperty({
    example: 'https://example.com/hooks/venna',
    description:
      'Where events are POSTed (http or https). Its host must be or resolve to public addresses only (not loopback, ' +
      'private, link-local …) unless the server sets WEBHOOK_ALLOW_PRIVATE_URLS.',
  })
  @IsString({ message: URL_MESSAGE })
  @MaxLength(2048, { message: 'url must be at most 2048 characters' })
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false }, { message: URL_MESSAGE })
  url!: string;

  @ApiPropertyOptional({
    enum: WEBHOOK_EVENT_TYPES,
    isArray: true,
    description: 'The events to receive; all four when omitted.',
  })
  @IsOptional()
  @IsArray({ message: EVENTS_MESSAGE })
  @ArrayNotEmpty({ message: EVENTS_MESSAGE })
  @ArrayUnique({ message: EVENTS_MESSAGE })
  @IsIn(WEBHOOK_EVENT_TYPES, { each: true, message: EVENTS_MESSAGE })
  events?: WebhookEventType[];
}
