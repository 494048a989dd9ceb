import type { DataSource } from 'typeorm';
import type { FileStorage } from '../storage/file-storage';
import { uploadAssemblyKey, uploadPartsPrefix } from '../storage/storage-keys';

/**
 * An upload `u` that takes nothing more and holds nothing in storage but, perhaps, its file; written out so that
 * PostgreSQL matches it with the partial index of unreleased uploads.
 */
export const FINISHED_UPLOAD = `u.status IN ('completed', 'cancelled', 'expired')`;

/**
 * Frees, once, what a finished upload holds in storage: every object under its parts prefix (its parts, and any a
 * request killed before recording its part left behind), its parts' rows, and its S3 assembly (aborted, and what
 * it joined removed) unless that became the file, in which case the completion cleared `assembly_id`. The api
 * runs it when a completion or cancel ends an upload, the sweeper for every finished upload not yet released
 * (expired, or left by an api that died first). Safe to run twice, and from several processes at once.
 * Returns whether the upload was finished and not yet released.
 */
export async function releaseUploadStorage(
  dataSource: DataSource,
  storage: FileStorage,
  uploadId: string,
): Promise<boolean> {
  const [upload] = await dataSource.query<{ workspace_id: string; assembly_id: string | null }[]>(
    `SELECT workspace_id, assembly_id FROM uploads u WHERE id = $1 AND ${FINISHED_UPLOAD} AND released_at IS NULL`,
    [uploadId],
  );
  if (!upload) {
    return false;
  }
  for await (const key of storage.list(uploadPartsPrefix(upload.workspace_id, uploadId))) {
    await storage.delete(key);
  }
  await dataSource.query(`DELETE FROM upload_parts WHERE upload_id = $1`, [uploadId]);
  if (upload.assembly_id && storage.assembly) {
    const key = uploadAssemblyKey(upload.workspace_id, uploadId);
    await storage.assembly.abandon(key, upload.assembly_id);
    await storage.delete(key);
  }
  await dataSource.query(
    `UPDATE uploads SET released_at = clock_timestamp(), assembly_id = NULL WHERE id = $1 AND released_at IS NULL`,
    [uploadId],
  );
  return true;
}
