import { Column, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { bigintAsNumber } from '../database/columns';

/**
 * Token usage billed to a workspace: one row per batch, model and pricing, written once when the batch ends.
 * `batch`: lines a provider's own Batch API ran (its batch price); `online`: lines sent to an online endpoint.
 */
export type UsagePricing = 'online' | 'batch';

@Entity('usage_ledger')
@Unique('usage_ledger_batch_model_key', ['batchId', 'model', 'pricing'])
@Index('usage_ledger_workspace_recorded_idx', ['workspaceId', 'recordedAt'])
export class UsageLedgerEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  @Column({ name: 'workspace_id', type: 'varchar', length: 40 })
  workspaceId!: string;

  @Column({ name: 'batch_id', type: 'varchar', length: 40 })
  batchId!: string;

  @Column({ type: 'text' })
  model!: string;

  @Column({ name: 'request_count', type: 'integer' })
  requestCount!: number;

  @Column({ name: 'input_tokens', type: 'bigint', transformer: bigintAsNumber })
  inputTokens!: number;

  @Column({ name: 'cached_tokens', type: 'bigint', transformer: bigintAsNumber })
  cachedTokens!: number;

  @Column({ name: 'output_tokens', type: 'bigint', transformer: bigintAsNumber })
  outputTokens!: number;

  @Column({ name: 'reasoning_tokens', type: 'bigint', transformer: bigintAsNumber })
  reasoningTokens!: number;

  @Column({ type: 'varchar', length: 8, default: 'online' })
  pricing!: UsagePricing;

  @Column({ name: 'recorded_at', type: 'timestamptz', default: () => 'clock_timestamp()' })
  recordedAt!: Date;
}
