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

  @Column({ name: 'request_id', type: 'varchar', length: 48 })
  requestId!: string;

  @Column({ name: 'custom_id', type: 'text' })
  customId!: string;

  @Column({ type: 'varchar', length: 16 })
  outcome!: RequestOutcome;

  @Column({ type: 'jsonb', nullable: true })
  response!: { status_code: number; request_id: string; body: unknown } | null;

  @Column({ type: 'jsonb', nullable: true })
  error!: { code: string; message: string } | null;
}
