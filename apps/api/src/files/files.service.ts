import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Readable } from 'node:stream';
import { type EntityManager, Repository } from 'typeorm';
import {
  AppError,
  BATCH_FILE_DEFAULT_TTL_SECONDS,
  ErrorCode,
  FileEntity,
  FileStorage,
  keysetPage,
  OPEN_STATUSES,
  type Page,
  PreparedReads,
  type ReadStatement,
  secondsAfter,
  StoredObjectMissingError,
  type UploadPurpose,
  type WireRow,
} from '@app/core';
import { hasNulCharacter } from '../common/storable-text.pipe';
import type { CreateFileDto } from './dto/create-file.dto';
import { FILE_WIRE } from './dto/file-object.dto';
import type { ListFilesQueryDto } from './dto/list-files.query.dto';
import type { StoredUpload } from './streaming-upload.engine';

/** A file that has expired is gone for its workspace (its bytes may stay a while for a batch still reading them). */
const notExpired = (column: string) => `(${column} IS NULL OR ${column} > clock_timestamp())`;
/** A file of the workspace (value 2) by id (value 1), unless it has expired. */
const fileById = (name: string, select: string): ReadStatement => ({
  name,
  types: ['text', 'text'],
  text: (p) => `${select} WHERE t.id = ${p(1)} AND t.workspace_id = ${p(2)} AND ${notExpired('t.expires_at')}`,
});
/** An open batch reads the file as its input (its bytes must stay until the batch ends). */
const OPEN_BATCH_INPUT = 'SELECT 1 FROM batches b WHERE b.input_file_id = :fileId AND b.status IN (:...open)';

/** A file to record, its bytes already stored under `storageKey`. */
export interface NewFile {
  id: string;
  purpose: UploadPurpose;
  filename: string;
  bytes: number;
  storageKey: string;
  /** expires_after.seconds when the client gave one. */
  ttlSeconds?: number | null;
}

@Injectable()
export class FilesService {
  private readonly logger = new Logger(FilesService.name);

  constructor(
    @InjectRepository(FileEntity) private readonly files: Repository<FileEntity>,
    private readonly storage: FileStorage,
    private readonly reads: PreparedReads,
  ) {}

  /** Registers an upload whose bytes are already stored; throwing here makes the caller discard them. */
  async create(workspaceId: string, upload: StoredUpload | undefined, form: CreateFileDto): Promise<FileEntity> {
    if (!upload) {
      throw new AppError(ErrorCode.InvalidRequest, "Missing required parameter: 'file'.", 'file');
    }
    if (hasNulCharacter(upload.originalname)) {
      throw new AppError(ErrorCode.InvalidRequest, "Invalid 'file': its filename contains a NUL character.", 'file');
    }
    if (form.purpose === 'batch') {
      this.checkBatchInput(upload);
    }
    return this.register(this.files.manager, workspaceId, {
      id: upload.fileId,
      purpose: form.purpose,
      filename: upload.originalname,
      bytes: upload.size,
      storageKey: upload.storageKey,
      ttlSeconds: form.expires_after?.seconds,
    });
  }

  /**
   * Records a file whose bytes are stored: batch files expire after 30 days unless told otherwise, others
   * never. Takes the caller's transaction manager, so a file can appear together with what made it.
   */
  async register(manager: EntityManager, workspaceId: string, file: NewFile): Promise<FileEntity> {
    const ttl = file.ttlSeconds ?? (file.purpose === 'batch' ? BATCH_FILE_DEFAULT_TTL_SECONDS : null);
    const createdAt = new Date();
    const files = manager.getRepository(FileEntity);
    return files.save(
      files.create({
        id: file.id,
        workspaceId,
        purpose: file.purpose,
        filename: file.filename,
        bytes: file.bytes,
        storageKey: file.storageKey,
        createdAt,
        expiresAt: ttl === null ? null : secondsAfter(createdAt, ttl),
      }),
    );
  }

  /** A page of the workspace's files, each one's JSON written by PostgreSQL (FILE_WIRE). */
  list(workspaceId: string, query: ListFilesQueryDto): Promise<Page<WireRow>> {
    return keysetPage(
      {
        source: this.reads.wireSource(FILE_WIRE),
        name: 'files.list.wire',
        filter: (p) => ` AND ${notExpired('t.expires_at')} AND (${p(2)} IS NULL OR t.purpose = ${p(2)})`,
        values: [query.purpose ?? null],
        types: ['text'],
      },
      {
        limit: query.limit,
        after: query.after,
        direction: query.order === 'asc' ? 'ASC' : 'DESC',
        workspaceId,
        cursorExists: (id) => this.files.existsBy({ id, workspaceId }),
        itemName: 'File',
      },
    );
  }

  async get(workspaceId: string, fileId: string): Promise<FileEntity> {
    return this.found(
      fileId,
      await this.reads.entities(FileEntity, fileById('files.get', this.reads.selectFrom(FileEntity)), [
        fileId,
        workspaceId,
      ]),
    );
  }

  /** The File object's JSON text, written by PostgreSQL (FILE_WIRE): what clients poll. */
  async getWire(workspaceId: string, fileId: string): Promise<string> {
    const source = this.reads.wireSource(FILE_WIRE);
    return this.found(fileId, await source.rows(fileById('files.get.wire', source.select), [fileId, workspaceId])).json;
  }

  private found<T>(fileId: string, [file]: T[]): T {
    if (!file) {
      throw new AppError(ErrorCode.FileNotFound, `No such File object: ${fileId}`, 'id');
    }
    return file;
  }

  /**
   * The file is gone for the workspace at once. The input of a batch that is still open keeps its bytes (it
   * only expires now) until the batch ends, so no line is dropped; the sweeper removes it then.
   */
  async delete(workspaceId: string, fileId: string): Promise<void> {
    const file = await this.get(workspaceId, fileId);
    // The input of an open batch only expires (it answers 404 from now on); its bytes stay until the batch ends.
    // Of concurrent deletes, only the one that hid or removed the row deleted the file; the others find nothing.
    const hidden = await this.files
      .createQueryBuilder()
      .update(FileEntity)
      .set({ expiresAt: () => 'clock_timestamp()' })
      .where('id = :fileId', { fileId: file.id })
      .andWhere(notExpired('expires_at'))
      .andWhere(`EXISTS (${OPEN_BATCH_INPUT})`, { open: OPEN_STATUSES })
      .execute();
    if (hidden.affected) {
      return;
    }
    const deleted = await this.files
      .createQueryBuilder()
      .delete()
      .from(FileEntity)
      .where('id = :fileId AND workspace_id = :workspaceId', { fileId: file.id, workspaceId })
      .andWhere(notExpired('expires_at'))
      .andWhere(`NOT EXISTS (${OPEN_BATCH_INPUT})`, { open: OPEN_STATUSES })
      .execute();
    if (!deleted.affected) {
      throw new AppError(ErrorCode.FileNotFound, `No such File object: ${fileId}`, 'id');
    }
    await this.storage
      .delete(file.storageKey)
      .catch((error: Error) => this.logger.error(`Deleted file ${file.id} but not its bytes`, error.stack));
  }

  async openContent(workspaceId: string, fileId: string): Promise<{ file: FileEntity; content: Readable }> {
    const file = await this.get(workspaceId, fileId);
    try {
      return { file, content: await this.storage.read(file.storageKey) };
    } catch (error) {
      if (error instanceof StoredObjectMissingError) {
        this.logger.error(`File ${file.id} has no stored bytes (${file.storageKey})`);
        throw new AppError(ErrorCode.FileNotFound, `No such File object: ${fileId}`, 'id');
      }
      throw error;
    }
  }

  private checkBatchInput(upload: StoredUpload): void {
    if (!upload.originalname.toLowerCase().endsWith('.jsonl')) {
      throw new AppError(ErrorCode.InvalidBatchFile, 'Invalid file format for Batch API. Must be .jsonl', 'file');
    }
    const problem = upload.inspection?.problem;
    if (problem) {
      throw new AppError(ErrorCode.InvalidBatchFile, `Invalid file for Batch API: ${problem}`, 'file');
    }
  }
}
