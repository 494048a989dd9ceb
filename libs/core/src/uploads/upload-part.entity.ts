import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/columns';
import type { AssembledPart } from '../storage/file-storage';

@Entity('upload_parts')
export class UploadPartEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Column({ name: 'upload_id', type: 'varchar', length: 40 })
  uploadId!: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  bytes!: number;

  /** The part as an object of its own; null for a part held only by the upload's assembly. */
  @Column({ name: 'storage_key', type: 'text', nullable: true })
  storageKey!: string | null;

  /** The part's pieces in the upload's assembly, in order; null when the assembly does not hold it. */
  @Column({ name: 'assembled', type: 'jsonb', nullable: true })
  assembled!: AssembledPart[] | null;

  /**
   * Where the part starts in the upload's assembled object, once a completion has joined the assembly: the
   * part is read from there while that object exists.
   */
  @Column({ name: 'joined_offset', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  joinedOffset!: number | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'clock_timestamp()' })
  createdAt!: Date;
}
