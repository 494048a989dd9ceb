import type { TerminalStatus } from '../batches/batch-status';

/** The batch events a webhook can subscribe to, as OpenAI names them. */
export const WEBHOOK_EVENT_TYPES = ['batch.completed', 'batch.failed', 'batch.expired', 'batch.cancelled'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The event each terminal status announces. */
export const WEBHOOK_EVENT_OF: Record<TerminalStatus, WebhookEventType> = {
  completed: 'batch.completed',
  failed: 'batch.failed',
  expired: 'batch.expired',
  cancelled: 'batch.cancelled',
};
