import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/columns';
import type { FilePurpose } from './file-purpose';

@Entity('files')
@Index('files_workspace_created_idx', ['workspaceId', 'createdAt', 'id'])
export class FileEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Column({ name: 'workspace_id', type: 'varchar', length: 40 })
  workspaceId!: string;

  @Column({ type: 'varchar', length: 32 })
  purpose!: FilePurpose;

  @Column({ type: 'text' })
  filename!: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  bytes!: number;

  @Column({ name: 'storage_key', type: 'text' })
  storageKey!: string;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'clock_timestamp()' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;
}
