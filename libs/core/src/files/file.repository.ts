import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { batchFileRow, type NewBatchFile } from '../batches/batch-file';
import { OPEN_STATUSES } from '../batches/batch-status';
import { keysetPage, type Page } from '../database/reads/keyset-page';
import { PreparedReads, type ReadStatement, type WireRow } from '../database/reads/prepared-reads';
import { FileEntity } from './file.entity';
import { FILE_WIRE, type FileWire } from './file.wire';

/** A file that has expired is gone for its workspace (its bytes may stay a while for a batch still reading them). */
const notExpired = (column: string) => `(${column} IS NULL OR ${column} > clock_timestamp())`;

/** A file of the workspace (value 2) by id (value 1), unless it has expired. */
const fileById = (name: string, select: string): ReadStatement => ({
  name,
  types: ['text', 'text'],
  text: (p) => `${select} WHERE t.id = ${p(1)} AND t.workspace_id = ${p(2)} AND ${notExpired('t.expires_at')}`,
});

/** An open batch reads the file as its input (its bytes must stay until the batch ends). */
const OPEN_BATCH_INPUT = 'SELECT 1 FROM batches b WHERE b.input_file_id = f.id AND b.status = ANY($2)';

export interface FilePageRequest {
  limit: number;
  after?: string;
  direction: 'ASC' | 'DESC';
  purpose?: string;
}

/**
 * The files of workspaces (table files). The reads clients poll go through PreparedReads, coalesced with the
 * same reads of other requests; the others, and every write, are plain statements.
 */
@Injectable()
export class FileRepository {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly reads: PreparedReads,
  ) {}

  /** Records a file, in the caller's transaction when given one. */
  insert(file: FileEntity, manager: EntityManager = this.dataSource.manager): Promise<FileEntity> {
    return manager.getRepository(FileEntity).save(file);
  }

  /** The workspace's file, unless it has expired. */
  async find(workspaceId: string, fileId: string): Promise<FileEntity | null> {
    const statement = fileById('files.get', this.reads.selectFrom(FileEntity));
    const [file] = await this.reads.entities(FileEntity, statement, [fileId, workspaceId]);
    return file ?? null;
  }

  /** The File object's JSON text, written by PostgreSQL (FILE_WIRE), unless the file has expired. */
  async findWire(workspaceId: string, fileId: string): Promise<WireRow<FileWire> | null> {
    const source = this.reads.wireSource(FILE_WIRE);
    const [file] = await source.rows(fileById('files.get.wire', source.select), [fileId, workspaceId]);
    return file ?? null;
  }

  /** A page of the workspace's files that have not expired, each one's JSON written by PostgreSQL (FILE_WIRE). */
  page(workspaceId: string, request: FilePageRequest): Promise<Page<WireRow<FileWire>>> {
    return keysetPage(
      {
        source: this.reads.wireSource(FILE_WIRE),
        name: 'files.list.wire',
        filter: (p) => ` AND ${notExpired('t.expires_at')} AND (${p(2)} IS NULL OR t.purpose = ${p(2)})`,
        values: [request.purpose ?? null],
        types: ['text'],
      },
      {
        limit: request.limit,
        after: request.after,
        direction: request.direction,
        workspaceId,
        cursorExists: (id) => this.dataSource.getRepository(FileEntity).existsBy({ id, workspaceId }),
        itemName: 'File',
      },
    );
  }

  /**
   * Expires the file now if an open batch reads it as its input: it answers 404 from now on, and its bytes stay
   * until the batch ends. Of concurrent calls only one hides it (true).
   */
  async hideOpenBatchInput(fileId: string): Promise<boolean> {
    const [, hidden] = await this.dataSource.query<[unknown, number]>(
      `UPDATE files f SET expires_at = clock_timestamp()
        WHERE f.id = $1 AND ${notExpired('f.expires_at')} AND EXISTS (${OPEN_BATCH_INPUT})`,
      [fileId, OPEN_STATUSES],
    );
    return hidden === 1;
  }

  /** Deletes the workspace's file unless an open batch reads it; of concurrent calls only one deletes it (true). */
  async deleteUnlessOpenBatchInput(workspaceId: string, fileId: string): Promise<boolean> {
    const [, deleted] = await this.dataSource.query<[unknown, number]>(
      `DELETE FROM files f
        WHERE f.id = $1 AND f.workspace_id = $3 AND ${notExpired('f.expires_at')} AND NOT EXISTS (${OPEN_BATCH_INPUT})`,
      [fileId, OPEN_STATUSES, workspaceId],
    );
    return deleted === 1;
  }

  /**
   * Deletes up to `limit` expired files and answers their storage keys, whose bytes are the caller's to delete. The
   * input of an open batch is kept until the batch ends, so no line is dropped: it already answers 404 to the
   * workspace, and it is deleted by a call after the batch ends.
   */
  async deleteExpired(limit: number): Promise<string[]> {
    const [deleted] = await this.dataSource.query<[{ storage_key: string }[], number]>(
      `DELETE FROM files WHERE id IN (
         SELECT f.id FROM files f
         WHERE f.expires_at < clock_timestamp() AND NOT EXISTS (${OPEN_BATCH_INPUT})
         LIMIT $1)
       RETURNING storage_key`,
      [limit, OPEN_STATUSES],
    );
    return deleted.map((row) => row.storage_key);
  }

  /** Records a file a batch made (a retry's input, an output or error file), in the batch's transaction. */
  async insertBatchFile(file: NewBatchFile, tx: EntityManager): Promise<void> {
    await tx.insert(FileEntity, batchFileRow(file));
  }

  /** Removes a file a batch made, in the transaction that undoes the batch. */
  async remove(fileId: string, tx: EntityManager): Promise<void> {
    await tx.delete(FileEntity, { id: fileId });
  }

  /** The workspace's file even once expired: a running batch reads its input until it ends. */
  findEvenExpired(workspaceId: string, fileId: string): Promise<FileEntity | null> {
    return this.dataSource.manager.findOneBy(FileEntity, { id: fileId, workspaceId });
  }

  /** Whether any of these stored objects is registered as a file (that is, the finalize that wrote it committed). */
  async anyStoredAt(storageKeys: string[]): Promise<boolean> {
    const rows = await this.dataSource.query<unknown[]>(`SELECT 1 FROM files WHERE storage_key = ANY($1) LIMIT 1`, [
      storageKeys,
    ]);
    return rows.length > 0;
  }

  /** A file by id whatever its workspace or expiry (an upload's file: null once deleted). */
  findById(fileId: string): Promise<FileEntity | null> {
    return this.dataSource.getRepository(FileEntity).findOneBy({ id: fileId });
  }
}
