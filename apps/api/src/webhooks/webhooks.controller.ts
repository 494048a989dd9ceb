import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminKeyGuard } from '../admin/admin-key.guard';
import type { ListEnvelope } from '../common/list-page';
import { OpenAIErrorResponses } from '../common/openai-error.schema';
import { CreateWebhookDto } from './dto/create-webhook.dto';
import { ListWebhookDeliveriesQueryDto } from './dto/list-webhook-deliveries.query.dto';
import {
  CreatedWebhookDto,
  DeletedWebhookDto,
  WebhookDeliveryDto,
  WebhookDeliveryListDto,
  WebhookDto,
  WebhookListDto,
} from './dto/webhook.dto';
import { WebhooksService } from './webhooks.service';

/** Batch-event webhooks of a workspace (operators only). */
@ApiTags('Admin')
@ApiBearerAuth('admin-key')
@OpenAIErrorResponses()
@UseGuards(AdminKeyGuard)
@Controller('admin')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post('workspaces/:id/webhooks')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Subscribe a URL to batch events of a workspace (the only time the signing secret is shown)',
  })
  @ApiCreatedResponse({ type: CreatedWebhookDto })
  async create(@Param('id') workspaceId: string, @Body() body: CreateWebhookDto): Promise<CreatedWebhookDto> {
    return CreatedWebhookDto.withSecret(await this.webhooks.create(workspaceId, body));
  }

  @Get('workspaces/:id/webhooks')
  @ApiOperation({ summary: "List a workspace's webhooks (without their secrets)" })
  @ApiOkResponse({ type: WebhookListDto })
  async list(@Param('id') workspaceId: string): Promise<WebhookListDto> {
    return { object: 'list', data: (await this.webhooks.list(workspaceId)).map((webhook) => WebhookDto.from(webhook)) };
  }

  @Delete('webhooks/:id')
  @ApiOperation({ summary: 'Delete a webhook: nothing more is sent to it, its deliveries go with it' })
  @ApiOkResponse({ type: DeletedWebhookDto })
  async delete(@Param('id') id: string): Promise<DeletedWebhookDto> {
    await this.webhooks.delete(id);
    return { id, object: 'webhook', deleted: true };
  }

  @Get('webhooks/:id/deliveries')
  @ApiOperation({ summary: "A webhook's deliveries, newest first: event, attempts, last answer, delivered or not" })
  @ApiOkResponse({ type: WebhookDeliveryListDto })
  async deliveries(
    @Param('id') webhookId: string,
    @Query() query: ListWebhookDeliveriesQueryDto,
  ): Promise<ListEnvelope<WebhookDeliveryDto>> {
    const page = await this.webhooks.listDeliveries(webhookId, query);
    return WebhookDeliveryListDto.of(
      page.items.map(({ delivery, event }) => WebhookDeliveryDto.from(delivery, event)),
      page.hasMore,
    );
  }

  @Post('webhook-deliveries/:id/replay')
  @HttpCode(201)
  @ApiOperation({ summary: "Send a delivery's event again, as a new delivery with its own attempts" })
  @ApiCreatedResponse({ type: WebhookDeliveryDto })
  async replay(@Param('id') deliveryId: string): Promise<WebhookDeliveryDto> {
    const { delivery, event } = await this.webhooks.replay(deliveryId);
    return WebhookDeliveryDto.from(delivery, event);
  }
}
