import { Column, Entity, PrimaryColumn } from 'typeorm';

export type LineOutcome = 'succeeded' | 'failed';

/**
 * The journal record of one answered input line: a small, fixed-size row. The result line itself
 * lies in a storage segment (`segment`, `byteOffset`, `byteLength`); the primary key (batch, line)
 * makes recording idempotent, so a line answered twice after a crash is kept and counted once.
 * Rows and segments live until the batch's output and error files are written.
 */
@Entity('batch_line_results')
export class BatchLineResultEntity {
  @PrimaryColumn({ name: 'batch_id', type: 'varchar', length: 40 })
  batchId!: string;

  @PrimaryColumn({ name: 'line_number', type: 'integer' })
  lineNumber!: number;

  @Column({ type: 'varchar', length: 16 })
  outcome!: LineOutcome;

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
