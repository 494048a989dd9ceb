import { Injectable, Logger } from '@nestjs/common';
import type { Readable } from 'node:stream';
import type { EntityManager } from 'typeorm';
import {
  AppError,
  BATCH_FILE_DEFAULT_TTL_SECONDS,
  ErrorCode,
  FileEntity,
  FileRepository,
  FileStorage,
  type FileWire,
  type JsonOf,
  type Page,
  secondsAfter,
  StoredObjectMissingError,
  type UploadPurpose,
  type WireRow,
} from '@app/core';
import { hasNulCharacter } from '../common/storable-text.pipe';
import type { CreateFileDto } from './dto/create-file.dto';
import type { ListFilesQueryDto } from './dto/list-files.query.dto';
import type { StoredUpload } from './streaming-upload.engine';

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
    private readonly files: FileRepository,
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
    return this.files.insert(
      this.newFile(workspaceId, {
        id: upload.fileId,
        purpose: form.purpose,
        filename: upload.originalname,
        bytes: upload.size,
        storageKey: upload.storageKey,
        ttlSeconds: form.expires_after?.seconds,
      }),
    );
  }

  /** Records a file whose bytes are stored, in the caller's transaction: it appears together with what made it. */
  register(manager: EntityManager, workspaceId: string, file: NewFile): Promise<FileEntity> {
    return this.files.insert(this.newFile(workspaceId, file), manager);
  }

  /** A file to record: batch files expire after 30 days unless told otherwise, others never. */
  newFile(workspaceId: string, file: NewFile): FileEntity {
    const ttl = file.ttlSeconds ?? (file.purpose === 'batch' ? BATCH_FILE_DEFAULT_TTL_SECONDS : null);
    const createdAt = new Date();
    return Object.assign(new FileEntity(), {
      id: file.id,
      workspaceId,
      purpose: file.purpose,
      filename: file.filename,
      bytes: file.bytes,
      storageKey: file.storageKey,
      createdAt,
      expiresAt: ttl === null ? null : secondsAfter(createdAt, ttl),
    });
  }

  /** A page of the workspace's files, each one's JSON written by PostgreSQL (FILE_WIRE). */
  list(workspaceId: string, query: ListFilesQueryDto): Promise<Page<WireRow<FileWire>>> {
    return this.files.page(workspaceId, {
      limit: query.limit,
      after: query.after,
      direction: query.order === 'asc' ? 'ASC' : 'DESC',
      purpose: query.purpose,
    });
  }

  async get(workspaceId: string, fileId: string): Promise<FileEntity> {
    return this.found(fileId, await this.files.find(workspaceId, fileId));
  }

  /** The File object's JSON text, written by PostgreSQL (FILE_WIRE): what clients poll. */
  async getWire(workspaceId: string, fileId: string): Promise<JsonOf<FileWire>> {
    return this.found(fileId, await this.files.findWire(workspaceId, fileId)).json;
  }

  private found<T>(fileId: string, file: T | null): T {
    if (!file) {
      throw new AppError(ErrorCode.FileNotFound, `No such File object: ${fileId}`, 'id');
    }
    return file;
  }

  /**
   * The file is gone for the workspace at once. The input of a batch that is still open keeps its bytes (it
   * only expires now) until the batch ends, so no line is dropped; the purge-expired-files sweep removes it then.
   */
  async delete(workspaceId: string, fileId: string): Promise<void> {
    const file = await this.get(workspaceId, fileId);
    // The input of an open batch only expires (it answers 404 from now on); its bytes stay until the batch ends.
    // Of concurrent deletes, only the one that hid or removed the row deleted the file; the others find nothing.
    if (await this.files.hideOpenBatchInput(file.id)) {
      return;
    }
    if (!(await this.files.deleteUnlessOpenBatchInput(workspaceId, file.id))) {
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
