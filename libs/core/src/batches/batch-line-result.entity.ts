import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type LineOutcome = 'succeeded' | 'failed';

/**
 * The journal record of one answered input line: a small, fixed-size row. The result line itself
 * lies in a storage segment (`segment`, `byteOffset`, `byteLength`); the primary key (batch, line)
 * makes recording idempotent, so a line answered twice after a crash is kept and counted once.
 * Rows and segments live until the batch's output and error files are written. `sequence` numbers a
 * batch's records in commit order (see `GET /v1/batches/{id}/results`).
 */
@Entity('batch_line_results')
@Index('batch_line_results_sequence_idx', ['batchId', 'sequence'], { unique: true })
export class BatchLineResultEntity {
  @PrimaryColumn({ name: 'batch_id', type: 'varchar', length: 40 })
  batchId!: string;

  @PrimaryColumn({ name: 'line_number', type: 'integer' })
  lineNumber!: number;

  @Column({ type: 'varchar', length: 16 })
  outcome!: LineOutcome;

  /**
   * Handed out by the statement that records the line, under the batch row lock, from the counter
   * `batches.results_recorded`: a batch's groups commit one after the other, so a reader that has seen
   * sequence n has seen every record below n (a line re-sent after a crash leaves a gap, never a reorder).
   */
  @Column({ type: 'integer' })
  sequence!: number;

  @Column({ type: 'varchar', length: 64 })
  segment!: string;

  @Column({ name: 'byte_offset', type: 'integer' })
  byteOffset!: number;

  @Column({ name: 'byte_length', type: 'integer' })
  byteLength!: number;

  @Column({ name: 'input_tokens', type: 'integer' })
  inputTokens!: number;

  @Column({ name: 'cached_tokens', type: 'integer' })
  cachedTokens!: number;

  @Column({ name: 'output_tokens', type: 'integer' })
  outputTokens!: number;

  @Column({ name: 'reasoning_tokens', type: 'integer' })
  reasoningTokens!: number;
}
