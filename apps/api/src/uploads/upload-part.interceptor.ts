import { type CallHandler, type ExecutionContext, Injectable, Logger, type NestInterceptor } from '@nestjs/common';
import type { Request, RequestHandler, Response } from 'express';
import multer, { type StorageEngine } from 'multer';
import { PassThrough, type Readable } from 'node:stream';
import { catchError, type Observable } from 'rxjs';
import {
  AppError,
  type AssembledPart,
  ASSEMBLY_MIN_PART_BYTES,
  ErrorCode,
  FileStorage,
  newUploadPartId,
  type ObjectAssembly,
  UPLOAD_PART_MAX_BYTES,
} from '@app/core';
import { multipartError } from '../common/multipart-error';
import { partPieces } from './part-pieces';
import { type PartDestination, UploadsService } from './uploads.service';

/**
 * What a part leaves on `req.file`: where its bytes are stored, as an object of its own (`storageKey`), as
 * pieces of the upload's assembly (`assembled`), or both (a small part, which only the last place can take).
 */
export interface StoredPart {
  partId: string;
  storageKey: string | null;
  assembled: AssembledPart[] | null;
  size: number;
}

/** Streams the `data` part into storage as it arrives: into the upload's assembly where it has one. */
class UploadPartEngine implements StorageEngine {
  constructor(
    private readonly storage: FileStorage,
    private readonly destinationOf: (req: Request) => PartDestination | undefined,
  ) {}

  _handleFile(
    req: Request,
    file: Express.Multer.File,
    callback: (error?: unknown, info?: Partial<StoredPart>) => void,
  ) {
    const destination = this.destinationOf(req);
    if (!destination) {
      callback(new Error('Upload part reached storage without a destination'));
      return;
    }
    // Through a stream of our own, so that the size limit fails the write (busboy only truncates the file).
    const part = new PassThrough();
    file.stream.on('limit', () =>
      part.destroy(
        new AppError(ErrorCode.FileTooLarge, `A part can be at most ${UPLOAD_PART_MAX_BYTES} bytes (64 MB).`, 'data'),
      ),
    );
    file.stream.on('error', (error) => part.destroy(error));
    file.stream.pipe(part);
    const partId = newUploadPartId();
    const storageKey = `${destination.partsPrefix}/${partId}`;
    const stored =
      destination.assembly && this.storage.assembly
        ? this.intoAssembly(this.storage.assembly, destination.assembly, part, storageKey)
        : this.storage.write(storageKey, part).then(({ bytes }) => ({ storageKey, assembled: null, size: bytes }));
    stored.then(
      (where) => callback(null, { partId, ...where }),
      (error: unknown) => callback(error),
    );
  }

  /**
   * Sends the part's pieces into its block of the assembly's part numbers. A part below S3's smallest part
   * can only be joined there as the last one, so it is also stored as an object of its own.
   */
  private async intoAssembly(
    assembly: ObjectAssembly,
    target: NonNullable<PartDestination['assembly']>,
    part: Readable,
    storageKey: string,
  ): Promise<Omit<StoredPart, 'partId'>> {
    const assembled: AssembledPart[] = [];
    let last: Buffer = Buffer.alloc(0);
    for await (const piece of partPieces(part)) {
      if (assembled.length === target.numbers) {
        throw new Error(`A part took more than the ${target.numbers} pieces of its block`);
      }
      assembled.push(await assembly.addPart(target.key, target.id, target.firstNumber + assembled.length, piece));
      last = piece;
    }
    const size = assembled.reduce((sum, piece) => sum + piece.bytes, 0);
    if (size >= ASSEMBLY_MIN_PART_BYTES) {
      return { storageKey: null, assembled, size };
    }
    await this.storage.put(storageKey, last);
    return { storageKey, assembled: assembled.length > 0 ? assembled : null, size };
  }

  _removeFile(_req: Request, file: Express.Multer.File & Partial<StoredPart>, callback: (error: Error | null) => void) {
    // Pieces in the assembly that no part names are dropped when it is joined or abandoned.
    if (!file.storageKey) {
      callback(null);
      return;
    }
    this.storage.delete(file.storageKey).then(
      () => callback(null),
      (error: Error) => callback(error),
    );
  }
}

/**
 * Checks that the upload takes parts before reading a byte, then parses the multipart body with multer,
 * streaming the part into storage; a part refused afterwards (the upload completed or cancelled meanwhile)
 * leaves no stored object behind.
 */
@Injectable()
export class UploadPartInterceptor implements NestInterceptor {
  private readonly logger = new Logger(UploadPartInterceptor.name);
  private readonly parsePart: RequestHandler;
  private readonly destinations = new WeakMap<Request, PartDestination>();

  constructor(
    private readonly storage: FileStorage,
    private readonly uploads: UploadsService,
  ) {
    this.parsePart = multer({
      storage: new UploadPartEngine(storage, (req) => this.destinations.get(req)),
      limits: { fileSize: UPLOAD_PART_MAX_BYTES, files: 1, fields: 5, fieldSize: 64 * 1024, parts: 6 },
    }).single('data');
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const request = context.switchToHttp().getRequest<Request>();
    const response = context.switchToHttp().getResponse<Response>();
    const workspaceId = request.workspace?.id ?? '';
    const uploadId = String(request.params.upload_id);
    this.destinations.set(request, await this.uploads.partDestination(workspaceId, uploadId));
    try {
      await new Promise<void>((resolve, reject) =>
        this.parsePart(request, response, (error?: unknown) =>
          error ? reject(multipartError(error, { field: 'data', maxBytes: UPLOAD_PART_MAX_BYTES })) : resolve(),
        ),
      );
    } catch (error) {
      // The store refuses pieces of an assembly that a completion or cancel has ended meanwhile: say so.
      if (!(error instanceof AppError)) {
        await this.uploads.checkAcceptsParts(workspaceId, uploadId);
      }
      throw error;
    }
    return next.handle().pipe(
      catchError(async (error: unknown) => {
        const part: (Express.Multer.File & Partial<StoredPart>) | undefined = request.file;
        if (part?.storageKey) {
          await this.storage
            .delete(part.storageKey)
            .catch((cleanup: Error) =>
              this.logger.error(`Could not remove refused part ${part.storageKey}`, cleanup.stack),
            );
        }
        throw error;
      }),
    );
  }
}
