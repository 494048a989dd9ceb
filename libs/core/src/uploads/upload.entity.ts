import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/columns';
import type { UploadPurpose } from '../files/file-purpose';

/**
 * `completing` is ours, not OpenAI's: a completion holds the upload while it joins the parts (clients see
 * `pending`), so parts, cancels and a second completion cannot slip in meanwhile.
 */
export type UploadStatus = 'pending' | 'completing' | 'completed' | 'cancelled' | 'expired';

/** An upload in one of these may still write its assembly: pending, or held by a completion. */
export const UNFINISHED_UPLOAD_STATUSES = ['pending', 'completing'] as const satisfies readonly UploadStatus[];

/** An upload in one of these takes nothing more and holds nothing in storage but, perhaps, its file. */
export const FINISHED_UPLOAD_STATUSES = [
  'completed',
  'cancelled',
  'expired',
] as const satisfies readonly UploadStatus[];

/** An upload not completed within this long expires and its parts are deleted (OpenAI: one hour). */
export const UPLOAD_DEFAULT_EXPIRY_SECONDS = 3600;
/** OpenAI's limit for one part (a whole upload is held to the api's MAX_UPLOAD_BYTES, as a POST /v1/files is). */
export const UPLOAD_PART_MAX_BYTES = 64 * 1024 ** 2;

@Entity('uploads')
export class UploadEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Column({ name: 'workspace_id', type: 'varchar', length: 40 })
  workspaceId!: string;

  @Column({ type: 'varchar', length: 32 })
  purpose!: UploadPurpose;

  @Column({ type: 'text' })
  filename!: string;

  /** The declared size: the completed file must have exactly this many bytes. */
  @Column({ type: 'bigint', transformer: bigintAsNumber })
  bytes!: number;

  @Column({ name: 'mime_type', type: 'text' })
  mimeType!: string;

  /** The resulting file's expires_after seconds, when the client asked for one. */
  @Column({ name: 'file_ttl_seconds', type: 'integer', nullable: true })
  fileTtlSeconds!: number | null;

  @Column({ type: 'varchar', length: 16 })
  status!: UploadStatus;

  @Column({ name: 'file_id', type: 'varchar', length: 40, nullable: true })
  fileId!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'clock_timestamp()' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;

  /** The store's assembly of uploadAssemblyKey (storage-keys.ts) while it may still be open; null where the store has none. */
  @Column({ name: 'assembly_id', type: 'text', nullable: true })
  assemblyId!: string | null;
}
