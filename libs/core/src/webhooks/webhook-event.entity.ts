import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { WebhookEventType } from './webhook-event-type';

/** What happened to a batch, once: the body every delivery of it sends. */
@Entity('webhook_events')
export class WebhookEventEntity {
  /** `evt_…`: the body's `id` and the `webhook-id` header, the same on every retry and replay. */
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Index('webhook_events_workspace_idx')
  @Column({ name: 'workspace_id', type: 'varchar', length: 40 })
  workspaceId!: string;

  @Column({ name: 'batch_id', type: 'varchar', length: 40, unique: true })
  batchId!: string;

  @Column({ type: 'varchar', length: 32 })
  type!: WebhookEventType;

  /** When the batch entered its final status (the body's `created_at`). */
  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
