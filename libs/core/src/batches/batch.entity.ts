import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/columns';
import type { BatchStatus } from './batch-status';

export interface BatchErrorItem {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

@Entity('batches')
@Index('batches_workspace_created_idx', ['workspaceId', 'createdAt', 'id'])
export class BatchEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Column({ name: 'workspace_id', type: 'varchar', length: 40 })
  workspaceId!: string;

  @Column({ type: 'varchar', length: 64 })
  endpoint!: string;

  @Column({ type: 'text', nullable: true })
  model!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  errors!: BatchErrorItem[] | null;

  @Column({ name: 'input_file_id', type: 'varchar', length: 40 })
  inputFileId!: string;

  @Column({ name: 'completion_window', type: 'varchar', length: 16 })
  completionWindow!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: BatchStatus;

  @Column({ name: 'output_file_id', type: 'varchar', length: 40, nullable: true })
  outputFileId!: string | null;

  @Column({ name: 'error_file_id', type: 'varchar', length: 40, nullable: true })
  errorFileId!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'clock_timestamp()' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;

  @Column({ name: 'in_progress_at', type: 'timestamptz', nullable: true })
  inProgressAt!: Date | null;

  @Column({ name: 'finalizing_at', type: 'timestamptz', nullable: true })
  finalizingAt!: Date | null;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;

  @Column({ name: 'failed_at', type: 'timestamptz', nullable: true })
  failedAt!: Date | null;

  @Column({ name: 'expired_at', type: 'timestamptz', nullable: true })
  expiredAt!: Date | null;

  @Column({ name: 'cancelling_at', type: 'timestamptz', nullable: true })
  cancellingAt!: Date | null;

  @Column({ name: 'cancelled_at', type: 'timestamptz', nullable: true })
  cancelledAt!: Date | null;

  @Column({ name: 'request_total', type: 'integer', default: 0 })
  requestTotal!: number;

  @Column({ name: 'request_completed', type: 'integer', default: 0 })
  requestCompleted!: number;

  @Column({ name: 'request_failed', type: 'integer', default: 0 })
  requestFailed!: number;

  /** What running provider batches report done, not yet copied into the journal (shown in request_counts). */
  @Column({ name: 'provider_completed', type: 'integer', default: 0 })
  providerCompleted!: number;

  @Column({ name: 'provider_failed', type: 'integer', default: 0 })
  providerFailed!: number;

  @Column({ name: 'input_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber })
  inputTokens!: number;

  @Column({ name: 'cached_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber })
  cachedTokens!: number;

  @Column({ name: 'output_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber })
  outputTokens!: number;

  @Column({ name: 'reasoning_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber })
  reasoningTokens!: number;

  /** Input tokens + output ceiling estimated at create, held against the workspace budget while the batch is open. */
  @Column({ name: 'estimated_tokens', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  estimatedTokens!: number | null;

  @Column({ type: 'jsonb', nullable: true })
  metadata!: Record<string, string> | null;

  @Column({ name: 'output_expires_after_seconds', type: 'integer', nullable: true })
  outputExpiresAfterSeconds!: number | null;

  /** The batch whose unsucceeded lines this one retries (POST /v1/batches/{id}/retry). */
  @Column({ name: 'retry_of', type: 'varchar', length: 40, nullable: true })
  retryOf!: string | null;

  /** The batch that retries this one's unsucceeded lines; set once. */
  @Column({ name: 'retried_by', type: 'varchar', length: 40, nullable: true })
  retriedBy!: string | null;

  /** Who may finalize the batch now, and until when (see the worker's FinalizerLease). */
  @Column({ name: 'finalizer_token', type: 'varchar', length: 40, nullable: true, select: false })
  finalizerToken!: string | null;

  @Column({ name: 'finalizer_lease_until', type: 'timestamptz', nullable: true, select: false })
  finalizerLeaseUntil!: Date | null;

  /** The last journal sequence handed out (written only by the journal's record statement, under the row lock). */
  @Column({ name: 'results_recorded', type: 'integer', default: 0, select: false })
  resultsRecorded!: number;

  /**
   * Set when the batch ends: the journal sequence of each line of the output and error files, in the order the
   * lines were written (input order), positive for an output-file line, negative for an error-file line; lines
   * not executed get sequences above every journaled one. Lets `GET /v1/batches/{id}/results` continue a cursor
   * after the journal is purged.
   */
  @Column({ name: 'result_sequence', type: 'integer', array: true, nullable: true, select: false })
  resultSequence!: number[] | null;
}
