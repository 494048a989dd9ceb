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
  OPEN_STATUSES,
  secondsAfter,
  StoredObjectMissingError,
} from '@app/core';
import { keysetPage, type Page } from '../common/list-page';
import { hasNulCharacter } from '../common/storable-text.pipe';
import type { CreateFileDto } from './dto/create-file.dto';
import type { ListFilesQueryDto } from './dto/list-files.query.dto';
import type { StoredUpload } from './streaming-upload.engine';

/** A file that has not expired: an expired one is gone for its owner, whatever the sweeper has done yet. */
const NOT_EXPIRED = '(expires_at IS NULL OR expires_at > clock_timestamp())';
/** An open batch reads the file as its input (its bytes must stay until the batch ends). */
const OPEN_BATCH_INPUT = 'SELECT 1 FROM batches b WHERE b.input_file_id = :fileId AND b.status IN (:...open)';

@Injectable()
export class FilesService {
  private readonly logger = new Logger(FilesService.name);

  constructor(
    @InjectRepository(FileEntity) private readonly files: Repository<FileEntity>,
    private readonly storage: FileStorage,
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
    const ttl = form.expires_after?.seconds ?? (form.purpose === 'batch' ? BATCH_FILE_DEFAULT_TTL_SECONDS : null);
    const createdAt = new Date();
    return this.files.save(
      this.files.create({
        id: upload.fileId,
        workspaceId,
        purpose: form.purpose,
        filename: upload.originalname,
        bytes: upload.size,
        storageKey: upload.storageKey,
        createdAt,
        expiresAt: ttl === null ? null : secondsAfter(createdAt, ttl),
      }),
    );
  }

  /** Registers bytes the api stored itself (a retry's input) as a `batch` File, within the caller's transaction. */
  async registerBatchInput(
    manager: EntityManager,
    workspaceId: string,
    stored: { fileId: string; storageKey: string; bytes: number; filename: string },
  ): Promise<FileEntity> {
    const files = manager.getRepository(FileEntity);
    const createdAt = new Date();
    return files.save(
      files.create({
        id: stored.fileId,
        workspaceId,
        purpose: 'batch',
        filename: stored.filename,
        bytes: stored.bytes,
        storageKey: stored.storageKey,
        createdAt,
        expiresAt: secondsAfter(createdAt, BATCH_FILE_DEFAULT_TTL_SECONDS),
      }),
    );
  }

  async list(workspaceId: string, query: ListFilesQueryDto): Promise<Page<FileEntity>> {
    const qb = this.visible(workspaceId);
    if (query.purpose !== undefined) {
      qb.andWhere('f.purpose = :purpose', { purpose: query.purpose });
    }
    return keysetPage(qb, 'f', {
      limit: query.limit,
      after: query.after,
      direction: query.order === 'asc' ? 'ASC' : 'DESC',
      cursorExists: (id) => this.files.existsBy({ id, workspaceId }),
      itemName: 'File',
    });
  }

  async get(workspaceId: string, fileId: string): Promise<FileEntity> {
    const file = await this.visible(workspaceId).andWhere('f.id = :fileId', { fileId }).getOne();
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
      .andWhere(NOT_EXPIRED)
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
      .andWhere(NOT_EXPIRED)
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

  /** Files of this workspace that have not expired. Another workspace's files simply do not exist. */
  private visible(workspaceId: string) {
    return this.files
      .createQueryBuilder('f')
      .where('f.workspace_id = :workspaceId', { workspaceId })
      .andWhere(NOT_EXPIRED);
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
