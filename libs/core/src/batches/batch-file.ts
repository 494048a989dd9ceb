import type { FileEntity } from '../files/file.entity';
import { BATCH_FILE_DEFAULT_TTL_SECONDS } from '../files/file-purpose';
import { secondsAfter } from '../time/unix-time';

/** A file a batch makes (a retry's input, an output or error file): not stored yet, see BatchRepository. */
export type NewBatchFile = Pick<FileEntity, 'id' | 'workspaceId' | 'purpose' | 'filename' | 'bytes' | 'storageKey'> & {
  /** How long the file is kept; BATCH_FILE_DEFAULT_TTL_SECONDS when the batch did not say. */
  ttlSeconds: number | null;
};

/** The file's row, its expiry counted from now. */
export function batchFileRow(file: NewBatchFile): FileEntity {
  const createdAt = new Date();
  const { ttlSeconds, ...fields } = file;
  return { ...fields, createdAt, expiresAt: secondsAfter(createdAt, ttlSeconds ?? BATCH_FILE_DEFAULT_TTL_SECONDS) };
}
