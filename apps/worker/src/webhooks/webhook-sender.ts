import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';
import {
  type AttemptOutcome,
  ipLiteralOf,
  NonPublicAddressError,
  type OutgoingEvent,
  publicAddressesOf,
  unixSeconds,
} from '@app/core';
import { WorkerEnvironment } from '../config/worker-environment';
import { publicOnlyLookup } from './public-only-lookup';

/** The body OpenAI sends for its batch events (WebhookBatchCompleted and its siblings). */
export const eventBody = (event: OutgoingEvent): string =>
  JSON.stringify({
    id: event.eventId,
    object: 'event',
    type: event.type,
    created_at: unixSeconds(event.createdAt),
    data: { id: event.batchId },
  });

/**
 * POSTs an event to a webhook, signed per the Standard Webhooks specification (`webhook-id` is the event
 * id, the same on every retry and replay; `webhook-timestamp` is this attempt's time). Only a 2xx counts as
 * delivered; redirects are not followed; the whole attempt is bounded by WEBHOOK_TIMEOUT_MS. Unless
 * WEBHOOK_ALLOW_PRIVATE_URLS is set, a URL whose host is or resolves to a non-public address is refused without
 * a request.
 */
@Injectable()
export class WebhookSender implements OnModuleDestroy {
  private readonly agent: Agent;

  constructor(private readonly env: WorkerEnvironment) {
    this.agent = new Agent({
      keepAliveTimeout: 10_000,
      connect: {
        timeout: env.WEBHOOK_TIMEOUT_MS,
        // Every connection goes to an address publicOnlyLookup has just checked, not one DNS answers later.
        ...(env.WEBHOOK_ALLOW_PRIVATE_URLS ? {} : { lookup: publicOnlyLookup() }),
      },
    });
  }

  async send(event: OutgoingEvent): Promise<AttemptOutcome> {
    const body = eventBody(event);
    const now = new Date();
    try {
      const { hostname } = new URL(event.url);
      if (!this.env.WEBHOOK_ALLOW_PRIVATE_URLS && ipLiteralOf(hostname) !== null) {
        // A socket looks up names only (publicOnlyLookup): an IP literal is checked here.
        await publicAddressesOf(hostname);
      }
      const response = await request(event.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Venna-Webhooks/1.0',
          'webhook-id': event.eventId,
          'webhook-timestamp': String(unixSeconds(now)),
          'webhook-signature': new Webhook(event.secret).sign(event.eventId, now, body),
        },
        body,
        signal: AbortSignal.timeout(this.env.WEBHOOK_TIMEOUT_MS),
      });
      // The answer's body means nothing to us: read a little and let the rest go.
      await response.body.dump({ limit: 64 * 1024 });
      const delivered = response.statusCode >= 200 && response.statusCode < 300;
      return { delivered, status: response.statusCode, error: null };
    } catch (error) {
      return { delivered: false, status: null, error: describe(error, this.env.WEBHOOK_TIMEOUT_MS) };
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.agent.close();
  }
}

function describe(error: unknown, timeoutMs: number): string {
  if (error instanceof NonPublicAddressError) {
    return `refused: ${error.message} (WEBHOOK_ALLOW_PRIVATE_URLS is off)`;
  }
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${timeoutMs} ms`;
  }
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  return (typeof code === 'string' ? `${code}: ${message}` : message).slice(0, 300);
}
