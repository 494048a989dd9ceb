import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/columns';

/**
 * `submitting`: written before the provider is asked, so a crash can find what it asked for; `running`: the
 * provider holds the batch; `ingesting`: its results are being copied into the journal; `done`.
 */
export type ProviderBatchState = 'submitting' | 'running' | 'ingesting' | 'done';

/**
 * One stage of one shard of a batch sent to a provider's own Batch API (see the ProviderBatches migration).
 * Stage 0 runs every line of the shard's input range on the model's upstream; stage k runs `lines` (those
 * stage k-1 failed for a retriable reason) on the k-th upstream of its fallback list, natively or executed.
 */
@Entity('provider_batches')
export class ProviderBatchEntity {
  @PrimaryColumn({ name: 'batch_id', type: 'varchar', length: 40 })
  batchId!: string;

  @PrimaryColumn({ type: 'integer' })
  shard!: number;

  @PrimaryColumn({ type: 'integer' })
  stage!: number;

  /** The upstream's name in UPSTREAMS_FILE. */
  @Column({ type: 'text' })
  upstream!: string;

  @Column({ type: 'varchar', length: 16 })
  state!: ProviderBatchState;

  @Column({ name: 'first_line', type: 'integer' })
  firstLine!: number;

  @Column({ name: 'last_line', type: 'integer' })
  lastLine!: number;

  @Column({ name: 'start_byte', type: 'bigint', transformer: bigintAsNumber })
  startByte!: number;

  @Column({ name: 'end_byte', type: 'bigint', transformer: bigintAsNumber })
  endByte!: number;

  /** The lines a fallback stage re-runs; null: every line of the range. */
  @Column({ type: 'integer', array: true, nullable: true })
  lines!: number[] | null;

  @Column({ name: 'request_count', type: 'integer' })
  requestCount!: number;

  @Column({ name: 'provider_file_id', type: 'text', nullable: true })
  providerFileId!: string | null;

  @Column({ name: 'provider_batch_id', type: 'text', nullable: true })
  providerBatchId!: string | null;

  @Column({ name: 'provider_status', type: 'text', nullable: true })
  providerStatus!: string | null;

  /** The counts the provider last reported, mirrored into `batches.provider_*` until its results are copied. */
  @Column({ name: 'reported_completed', type: 'integer', default: 0 })
  reportedCompleted!: number;

  @Column({ name: 'reported_failed', type: 'integer', default: 0 })
  reportedFailed!: number;

  @Column({ name: 'cancel_sent_at', type: 'timestamptz', nullable: true })
  cancelSentAt!: Date | null;

  /** What the provider's successful lines used, billed at the batch price. */
  @Column({ name: 'billed_requests', type: 'integer', default: 0 })
  billedRequests!: number;

  @Column({ name: 'input_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber })
  inputTokens!: number;

  @Column({ name: 'cached_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber })
  cachedTokens!: number;

  @Column({ name: 'output_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber })
  outputTokens!: number;

  @Column({ name: 'reasoning_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber })
  reasoningTokens!: number;

  /** Times the provider turned the stage's batch down for its quota and the stage went back to be created again. */
  @Column({ name: 'quota_waits', type: 'integer', default: 0 })
  quotaWaits!: number;

  @Column({ name: 'intent_at', type: 'timestamptz', default: () => 'clock_timestamp()' })
  intentAt!: Date;

  @Column({ name: 'submitted_at', type: 'timestamptz', nullable: true })
  submittedAt!: Date | null;

  @Column({ name: 'ended_at', type: 'timestamptz', nullable: true })
  endedAt!: Date | null;

  /** What the stage left at the provider is still to be deleted (see DiscardProviderFilesSweep). */
  @Column({ name: 'discard_owed', type: 'boolean', default: false })
  discardOwed!: boolean;
}
