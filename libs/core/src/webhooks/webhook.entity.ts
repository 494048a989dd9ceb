import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';
import type { WebhookEventType } from './webhook-event-type';

/** A workspace's subscription: batch events of these types are POSTed to `url`, signed with `secret`. */
@Entity('webhooks')
@Index('webhooks_workspace_created_idx', ['workspaceId', 'createdAt', 'id'])
export class WebhookEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Column({ name: 'workspace_id', type: 'varchar', length: 40 })
  workspaceId!: string;

  @Column({ type: 'text' })
  url!: string;

  @Column({ type: 'text', array: true })
  events!: WebhookEventType[];

  /** `whsec_<base64>`: the signing key, shown once when the webhook is created; never selected unless asked for. */
  @Column({ type: 'varchar', length: 80, select: false })
  secret!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
