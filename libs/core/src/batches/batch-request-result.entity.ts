import { Column, Entity, PrimaryColumn } from 'typeorm';

export type RequestOutcome = 'succeeded' | 'failed';

/**
 * One answered input line, checkpointed the moment its answer arrives. The primary key
 * (batch, line) makes the checkpoint idempotent: a line answered twice after a crash is kept once.
 * Rows live until the batch's output and error files are written.
 */
@Entity('batch_request_results')
export class BatchRequestResultEntity {
  @PrimaryColumn({ name: 'batch_id', type: 'varchar', length: 40 })
  batchId!: string;

  @PrimaryColumn({ name: 'line_number', type: 'integer' })
  lineNumber!: number;

  @Column({ name: 'custom_id', type: 'text' })
  customId!: string;

  @Column({ type: 'varchar', length: 16 })
  outcome!: RequestOutcome;

  /** The line as it will stand in the output or error file (text, so the upstream body keeps its key order). */
  @Column({ name: 'output_line', type: 'text' })
  outputLine!: string;
}
