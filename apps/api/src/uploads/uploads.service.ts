import { Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import {
  AppError,
  ASSEMBLY_MAX_PARTS,
  ErrorCode,
  type FileEntity,
  FileRepository,
  fileStorageKey,
  FileStorage,
  MAX_BATCH_LINE_BYTES,
  type NewPart,
  newFileId,
  newUploadId,
  secondsAfter,
  UPLOAD_PART_MAX_BYTES,
  uploadAssemblyKey,
  UploadEntity,
  type UploadPartEntity,
  uploadPartsPrefix,
  UploadRepository,
} from '@app/core';
import { hasNulCharacter } from '../common/storable-text.pipe';
import { ApiEnvironment } from '../config/api-environment';
import { BatchFileInspector } from '../files/batch-file-inspector';
import { FilesService } from '../files/files.service';
import type { CompleteUploadDto } from './dto/complete-upload.dto';
import type { CreateUploadDto } from './dto/create-upload.dto';
import { pieceCount } from './part-pieces';
import type { StoredPart } from './upload-part.interceptor';
import { UploadJoiner } from './upload-joiner';

/** Where an arriving part is stored: under `partsPrefix` as an object, or into a block of the assembly's part numbers. */
export interface PartDestination {
  partsPrefix: string;
  assembly: { key: string; id: string; firstNumber: number; numbers: number } | null;
}

/** Each part gets the part numbers its largest size needs; S3's 10,000 numbers then serve 1,250 parts. */
const NUMBERS_PER_PART = pieceCount(UPLOAD_PART_MAX_BYTES);
const PART_BLOCKS = Math.floor(ASSEMBLY_MAX_PARTS / NUMBERS_PER_PART);

/**
 * OpenAI's Uploads: parts are stored as they arrive (in parallel, in any order), on S3 straight into one
 * multipart upload per Upload; completion joins them in the order the client names into one file (UploadJoiner),
 * checking the declared size, the md5 and, for purpose batch, the JSONL rules, then deletes the parts.
 */
@Injectable()
export class UploadsService {
  private readonly logger = new Logger(UploadsService.name);

  constructor(
    private readonly uploads: UploadRepository,
    private readonly fileRows: FileRepository,
    private readonly files: FilesService,
    private readonly storage: FileStorage,
    private readonly joiner: UploadJoiner,
    private readonly env: ApiEnvironment,
  ) {}

  async create(workspaceId: string, request: CreateUploadDto): Promise<UploadEntity> {
    if (hasNulCharacter(request.filename)) {
      throw new AppError(ErrorCode.InvalidRequest, "Invalid 'filename': it contains a NUL character.", 'filename');
    }
    if (request.bytes > this.env.MAX_UPLOAD_BYTES) {
      throw new AppError(
        ErrorCode.InvalidRequest,
        `File is too large. The maximum upload size is ${this.env.MAX_UPLOAD_BYTES} bytes.`,
        'bytes',
      );
    }
    if (request.purpose === 'batch') {
      if (!request.filename.toLowerCase().endsWith('.jsonl')) {
        throw new AppError(ErrorCode.InvalidBatchFile, 'Invalid file format for Batch API. Must be .jsonl', 'filename');
      }
      if (request.bytes > this.env.BATCH_MAX_FILE_BYTES) {
        throw new AppError(
          ErrorCode.InvalidRequest,
          `File is too large. Batch input files can be at most ${this.env.BATCH_MAX_FILE_BYTES} bytes.`,
          'bytes',
        );
      }
    }
    const createdAt = new Date();
    const id = newUploadId();
    // Begun before the row exists: an assembly of an api killed in between is no upload's, and the remove-abandoned-writes sweep aborts it.
    const assembly = this.env.joinsUploadsInPlace ? this.storage.assembly : null;
    const assemblyId = (await assembly?.begin(uploadAssemblyKey(workspaceId, id))) ?? null;
    return this.uploads.insert(
      Object.assign(new UploadEntity(), {
        id,
        workspaceId,
        purpose: request.purpose,
        filename: request.filename,
        bytes: request.bytes,
        mimeType: request.mime_type,
        fileTtlSeconds: request.expires_after?.seconds ?? null,
        status: 'pending',
        fileId: null,
        createdAt,
        expiresAt: secondsAfter(createdAt, this.env.UPLOAD_EXPIRY_SECONDS),
        assemblyId,
      }),
    );
  }

  /** The upload and, once completed, its file (null when the file has since been deleted). */
  async get(workspaceId: string, uploadId: string): Promise<{ upload: UploadEntity; file: FileEntity | null }> {
    const upload = await this.uploads.find(workspaceId, uploadId);
    if (!upload) {
      throw new AppError(ErrorCode.UploadNotFound, `No such Upload object: ${uploadId}`, 'upload_id');
    }
    const file = upload.fileId ? await this.fileRows.findById(upload.fileId) : null;
    return { upload, file };
  }

  /** Refuses a part before its bytes are read: unknown upload 404, one no longer open 400. */
  async checkAcceptsParts(workspaceId: string, uploadId: string): Promise<UploadEntity> {
    const { upload } = await this.get(workspaceId, uploadId);
    this.throwUnlessOpen(upload);
    return upload;
  }

  /**
   * Where the next part goes, if the upload takes parts: its own block of the assembly's part numbers, in the
   * order parts arrive (so parts sent in order can be joined in place); once the numbers run out, an object.
   */
  async partDestination(workspaceId: string, uploadId: string): Promise<PartDestination> {
    const upload = await this.checkAcceptsParts(workspaceId, uploadId);
    const partsPrefix = uploadPartsPrefix(workspaceId, uploadId);
    if (!upload.assemblyId) {
      return { partsPrefix, assembly: null };
    }
    const block = await this.uploads.takePartBlock(uploadId, PART_BLOCKS);
    if (block === null) {
      return { partsPrefix, assembly: null };
    }
    return {
      partsPrefix,
      assembly: {
        key: uploadAssemblyKey(workspaceId, uploadId),
        id: upload.assemblyId,
        firstNumber: block * NUMBERS_PER_PART + 1,
        numbers: NUMBERS_PER_PART,
      },
    };
  }

  /** Records a stored part, if the upload still takes it and the part fits in its declared size. */
  async addPart(workspaceId: string, uploadId: string, stored: StoredPart | undefined): Promise<NewPart> {
    if (!stored) {
      throw new AppError(ErrorCode.InvalidRequest, "Missing required parameter: 'data'.", 'data');
    }
    const part = await this.uploads.insertPart({
      id: stored.partId,
      uploadId,
      workspaceId,
      bytes: stored.size,
      storageKey: stored.storageKey,
      assembled: stored.assembled,
    });
    if (part) {
      return part;
    }
    const { upload } = await this.get(workspaceId, uploadId);
    this.throwUnlessOpen(upload);
    throw new AppError(
      ErrorCode.InvalidRequest,
      `The parts would exceed the ${upload.bytes} bytes the Upload was created with.`,
      'data',
    );
  }

  async cancel(workspaceId: string, uploadId: string): Promise<UploadEntity> {
    const cancelled = await this.uploads.cancel(workspaceId, uploadId);
    const { upload } = await this.get(workspaceId, uploadId);
    if (!cancelled) {
      throw this.notOpen(upload);
    }
    await this.releaseStorage(upload);
    return upload;
  }

  async complete(
    workspaceId: string,
    uploadId: string,
    request: CompleteUploadDto,
  ): Promise<{ upload: UploadEntity; file: FileEntity }> {
    const claimed = await this.uploads.claimCompletion(workspaceId, uploadId);
    const { upload } = await this.get(workspaceId, uploadId);
    if (!claimed) {
      throw this.notOpen(upload);
    }
    let file: FileEntity;
    try {
      file = await this.assemble(upload, request);
    } catch (error) {
      // The client may fix its request (part order, md5) and complete again within the hour.
      await this.uploads.reopen(upload.id);
      throw error;
    }
    await this.releaseStorage(upload);
    const { upload: completed } = await this.get(workspaceId, uploadId);
    return { upload: completed, file };
  }

  /** Joins the named parts into a new stored file, checks it, and records it with the upload completed. */
  private async assemble(upload: UploadEntity, request: CompleteUploadDto): Promise<FileEntity> {
    const parts = await this.orderedParts(upload, request.part_ids);
    const total = parts.reduce((sum, part) => sum + part.bytes, 0);
    if (total !== upload.bytes) {
      throw new AppError(
        ErrorCode.InvalidRequest,
        `The parts hold ${total} bytes, but the Upload was created with bytes=${upload.bytes}.`,
        'bytes',
      );
    }
    const md5 = createHash('md5');
    const inspector =
      upload.purpose === 'batch'
        ? new BatchFileInspector({
            maxBytes: this.env.BATCH_MAX_FILE_BYTES,
            maxRequests: this.env.BATCH_MAX_REQUESTS,
            maxLineBytes: MAX_BATCH_LINE_BYTES,
          })
        : null;
    const fileId = newFileId();
    const checksBytes = request.md5 !== undefined || inspector !== null;
    const joined = await this.joiner.join(
      upload,
      parts,
      fileStorageKey(upload.workspaceId, fileId),
      checksBytes
        ? (chunk) => {
            md5.update(chunk);
            inspector?.push(chunk);
          }
        : undefined,
    );
    const { bytes, storageKey } = joined;
    try {
      if (bytes !== upload.bytes) {
        throw new Error(`Upload ${upload.id}: joined ${bytes} bytes where its parts hold ${upload.bytes}`);
      }
      const digest = md5.digest('hex');
      if (request.md5 !== undefined && request.md5.toLowerCase() !== digest) {
        throw new AppError(
          ErrorCode.InvalidRequest,
          `The md5 of the uploaded bytes is ${digest}, not ${request.md5}.`,
          'md5',
        );
      }
      const problem = inspector?.result().problem;
      if (problem) {
        throw new AppError(ErrorCode.InvalidBatchFile, `Invalid file for Batch API: ${problem}`, 'part_ids');
      }
      const file = this.files.newFile(upload.workspaceId, {
        id: fileId,
        purpose: upload.purpose,
        filename: upload.filename,
        bytes,
        storageKey,
        ttlSeconds: upload.fileTtlSeconds,
      });
      if (!(await this.uploads.complete(upload.id, file, joined.inPlace))) {
        throw new AppError(ErrorCode.UploadNotOpen, `Upload ${upload.id} expired while it was being completed.`);
      }
      return file;
    } catch (error) {
      await joined
        .discard()
        .catch((cleanup: Error) => this.logger.error(`Could not remove refused file ${storageKey}`, cleanup.stack));
      throw error;
    }
  }

  /** The parts in the order named; every id must be a part of this upload, once. */
  private async orderedParts(upload: UploadEntity, partIds: string[]): Promise<UploadPartEntity[]> {
    const duplicate = partIds.find((id, index) => partIds.indexOf(id) !== index);
    if (duplicate !== undefined) {
      throw new AppError(ErrorCode.InvalidRequest, `Invalid 'part_ids': ${duplicate} is listed twice.`, 'part_ids');
    }
    const found = await this.uploads.partsAmong(upload.id, partIds);
    const byId = new Map(found.map((part) => [part.id, part]));
    const missing = partIds.find((id) => !byId.has(id));
    if (missing !== undefined) {
      throw new AppError(
        ErrorCode.InvalidRequest,
        `Invalid 'part_ids': ${missing.slice(0, 100)} is not a Part of Upload ${upload.id}.`,
        'part_ids',
      );
    }
    return partIds.map((id) => byId.get(id)!);
  }

  /** Parts go once the upload is finished; what a failure here leaves is the release-finished-uploads sweep's. */
  private async releaseStorage(upload: UploadEntity): Promise<void> {
    try {
      await this.uploads.releaseStorage(this.storage, upload.id);
    } catch (error) {
      this.logger.warn(`Could not release the storage of ${upload.id} yet: ${(error as Error).message}`);
    }
  }

  private throwUnlessOpen(upload: UploadEntity): void {
    if (upload.status !== 'pending' || upload.expiresAt.getTime() <= Date.now()) {
      throw this.notOpen(upload);
    }
  }

  /**
   * Why the upload refused a part, completion or cancel. One that looks open again here lost a race with a
   * completion that has since been refused: it was being completed when asked.
   */
  private notOpen(upload: UploadEntity): AppError {
    const refused = (why: string) => new AppError(ErrorCode.UploadNotOpen, `Upload ${upload.id} ${why}.`, 'upload_id');
    switch (upload.status) {
      case 'pending':
        return upload.expiresAt.getTime() <= Date.now() ? refused('has expired') : refused('is being completed');
      case 'completing':
        return refused('is being completed');
      case 'completed':
        return refused('is already completed');
      case 'cancelled':
        return refused('was cancelled');
      case 'expired':
        return refused('has expired');
    }
  }
}
