import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In } from 'typeorm';
import { FileEntity } from '../files/file.entity';
import type { AssembledPart, FileStorage } from '../storage/file-storage';
import { uploadAssemblyKey, uploadPartsPrefix } from '../storage/storage-keys';
import { UploadPartEntity } from './upload-part.entity';
import { FINISHED_UPLOAD_STATUSES, UNFINISHED_UPLOAD_STATUSES, UploadEntity } from './upload.entity';

/** An upload `u` that takes parts, a cancel or a completion: pending and within its hour. */
const OPEN = `u.status = 'pending' AND u.expires_at > clock_timestamp()`;

/** Statuses as an SQL list of literals: written out, not bound, so PostgreSQL matches the partial indexes on status. */
const statusList = (statuses: readonly string[]) => statuses.map((status) => `'${status}'`).join(', ');

/** An upload `u` that takes nothing more and holds nothing in storage but, perhaps, its file. */
const FINISHED = `u.status IN (${statusList(FINISHED_UPLOAD_STATUSES)})`;

/** A part whose bytes are stored, to record if its upload still takes it. */
export interface StoredPartRow {
  id: string;
  uploadId: string;
  workspaceId: string;
  bytes: number;
  /** Null when the part lives only in the upload's assembly. */
  storageKey: string | null;
  assembled: AssembledPart[] | null;
}

export type NewPart = Pick<UploadPartEntity, 'id' | 'uploadId' | 'createdAt'>;

/**
 * Uploads and their parts (tables uploads, upload_parts). Every change of an upload's status is a guarded
 * statement here: the api's pending → completing → completed (or back to pending), pending → cancelled, and the
 * expire-uploads sweep's pending or completing → expired.
 */
@Injectable()
export class UploadRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  insert(upload: UploadEntity): Promise<UploadEntity> {
    return this.dataSource.getRepository(UploadEntity).save(upload);
  }

  find(workspaceId: string, uploadId: string): Promise<UploadEntity | null> {
    return this.dataSource.getRepository(UploadEntity).findOneBy({ id: uploadId, workspaceId });
  }

  /** Takes the upload's next block of part numbers, while fewer than `blocks` are taken: its index, or null. */
  async takePartBlock(uploadId: string, blocks: number): Promise<number | null> {
    const [rows] = await this.dataSource.query<[{ block: number }[], number]>(
      `UPDATE uploads SET part_blocks = part_blocks + 1 WHERE id = $1 AND part_blocks < $2 RETURNING part_blocks - 1 AS block`,
      [uploadId, blocks],
    );
    return rows[0]?.block ?? null;
  }

  /**
   * Records a stored part if its upload is open and the part fits in its declared size; null otherwise. The row
   * lock (FOR SHARE) makes a concurrent completion or cancel wait for the part, or the part see the upload has moved on.
   */
  async insertPart(part: StoredPartRow): Promise<NewPart | null> {
    const rows: NewPart[] = await this.dataSource.query(
      `INSERT INTO upload_parts (id, upload_id, bytes, storage_key, assembled)
       SELECT $1, u.id, $3::bigint, $4, $6::jsonb FROM uploads u
       WHERE u.id = $2 AND u.workspace_id = $5 AND ${OPEN}
         AND u.bytes >= $3::bigint + (SELECT coalesce(sum(p.bytes), 0) FROM upload_parts p WHERE p.upload_id = u.id)
       FOR SHARE OF u
       RETURNING id, upload_id AS "uploadId", created_at AS "createdAt"`,
      [
        part.id,
        part.uploadId,
        part.bytes,
        part.storageKey,
        part.workspaceId,
        part.assembled && JSON.stringify(part.assembled),
      ],
    );
    return rows[0] ?? null;
  }

  /** The upload's parts among `partIds`, in no order. */
  partsAmong(uploadId: string, partIds: string[]): Promise<UploadPartEntity[]> {
    return this.dataSource.getRepository(UploadPartEntity).findBy({ uploadId, id: In(partIds) });
  }

  /** pending → cancelled, if the upload is open. */
  cancel(workspaceId: string, uploadId: string): Promise<boolean> {
    return this.moveOpen(workspaceId, uploadId, 'cancelled');
  }

  /** pending → completing, if the upload is open: the completion holds it while it joins the parts. */
  claimCompletion(workspaceId: string, uploadId: string): Promise<boolean> {
    return this.moveOpen(workspaceId, uploadId, 'completing');
  }

  /** completing → pending: the client may fix its request (part order, md5) and complete again within the hour. */
  async reopen(uploadId: string): Promise<void> {
    await this.dataSource.query(`UPDATE uploads SET status = 'pending' WHERE id = $1 AND status = 'completing'`, [
      uploadId,
    ]);
  }

  /**
   * completing → completed, recording its file in the same transaction; false (nothing recorded) if the upload
   * is no longer being completed. An assembly joined in place is the file's now, not the upload's to clean up.
   */
  async complete(uploadId: string, file: FileEntity, joinedInPlace: boolean): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      // Held first: the file must exist before the upload names it (file_id), and only a completing upload gets one.
      const [held] = await manager.query<unknown[]>(
        `SELECT 1 FROM uploads WHERE id = $1 AND status = 'completing' FOR UPDATE`,
        [uploadId],
      );
      if (!held) {
        return false;
      }
      await manager.getRepository(FileEntity).insert(file);
      await manager.query(
        `UPDATE uploads SET status = 'completed', file_id = $2, assembly_id = CASE WHEN $3 THEN NULL ELSE assembly_id END
          WHERE id = $1`,
        [uploadId, file.id, joinedInPlace],
      );
      return true;
    });
  }

  /** Marks where each part starts in the joined assembly (`offsets[i]` for `partIds[i]`). */
  async markJoinedOffsets(partIds: string[], offsets: number[]): Promise<void> {
    await this.dataSource.query(
      `UPDATE upload_parts p SET joined_offset = m.joined_offset
       FROM unnest($1::text[], $2::bigint[]) AS m(id, joined_offset) WHERE p.id = m.id`,
      [partIds, offsets],
    );
  }

  /** Whether any part of the upload is marked as joined. */
  async hasJoinedMarks(uploadId: string): Promise<boolean> {
    const [{ marked }] = await this.dataSource.query<{ marked: boolean }[]>(
      `SELECT EXISTS (SELECT 1 FROM upload_parts WHERE upload_id = $1 AND joined_offset IS NOT NULL) AS marked`,
      [uploadId],
    );
    return marked;
  }

  async clearJoinedMarks(uploadId: string): Promise<void> {
    await this.dataSource.query(`UPDATE upload_parts SET joined_offset = NULL WHERE upload_id = $1`, [uploadId]);
  }

  /**
   * Frees, once, what a finished upload holds in storage: every object under its parts prefix (its parts, and any a
   * request killed before recording its part left behind), its parts' rows, and its S3 assembly (aborted, and what
   * it joined removed) unless that became the file, in which case the completion cleared `assembly_id`. The api
   * runs it when a completion or cancel ends an upload, the release-finished-uploads sweep for every one not yet released
   * (expired, or left by an api that died first). Safe to run twice, and from several processes at once.
   * Returns whether the upload was finished and not yet released.
   */
  async releaseStorage(storage: FileStorage, uploadId: string): Promise<boolean> {
    const [upload] = await this.dataSource.query<{ workspace_id: string; assembly_id: string | null }[]>(
      `SELECT workspace_id, assembly_id FROM uploads u WHERE id = $1 AND ${FINISHED} AND released_at IS NULL`,
      [uploadId],
    );
    if (!upload) {
      return false;
    }
    for await (const key of storage.list(uploadPartsPrefix(upload.workspace_id, uploadId))) {
      await storage.delete(key);
    }
    await this.dataSource.query(`DELETE FROM upload_parts WHERE upload_id = $1`, [uploadId]);
    if (upload.assembly_id && storage.assembly) {
      const key = uploadAssemblyKey(upload.workspace_id, uploadId);
      await storage.assembly.abandon(key, upload.assembly_id);
      await storage.delete(key);
    }
    await this.dataSource.query(
      `UPDATE uploads SET released_at = clock_timestamp(), assembly_id = NULL WHERE id = $1 AND released_at IS NULL`,
      [uploadId],
    );
    return true;
  }

  /**
   * pending → expired past the upload's hour, and completing → expired `completionGraceSeconds` later (a completion
   * still holding it then died with its api); answers how many expired.
   */
  async expireOverdue(completionGraceSeconds: number): Promise<number> {
    const [expired] = await this.dataSource.query<[{ id: string }[], number]>(
      `UPDATE uploads SET status = 'expired'
       WHERE (status = 'pending' AND expires_at < clock_timestamp())
          OR (status = 'completing' AND expires_at < clock_timestamp() - make_interval(secs => $1))
       RETURNING id`,
      [completionGraceSeconds],
    );
    return expired.length;
  }

  /** Up to `limit` finished uploads whose storage is not released yet (releaseStorage). */
  async unreleased(limit: number): Promise<string[]> {
    const rows = await this.dataSource.query<{ id: string }[]>(
      `SELECT id FROM uploads u WHERE released_at IS NULL AND ${FINISHED} LIMIT $1`,
      [limit],
    );
    return rows.map((row) => row.id);
  }

  /** The storage keys of the assemblies that unfinished uploads may still write. */
  async openAssemblyKeys(): Promise<string[]> {
    const rows = await this.dataSource.query<{ workspace_id: string; id: string }[]>(
      `SELECT workspace_id, id FROM uploads
       WHERE status IN (${statusList(UNFINISHED_UPLOAD_STATUSES)}) AND assembly_id IS NOT NULL`,
    );
    return rows.map((upload) => uploadAssemblyKey(upload.workspace_id, upload.id));
  }

  private async moveOpen(workspaceId: string, uploadId: string, status: 'cancelled' | 'completing'): Promise<boolean> {
    const [rows] = await this.dataSource.query<[{ id: string }[], number]>(
      `UPDATE uploads u SET status = $3 WHERE u.id = $1 AND u.workspace_id = $2 AND ${OPEN} RETURNING u.id`,
      [uploadId, workspaceId, status],
    );
    return rows.length === 1;
  }
}
