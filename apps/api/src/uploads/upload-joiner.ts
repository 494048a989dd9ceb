import { Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';
import {
  type AssembledPart,
  ASSEMBLY_MAX_PARTS,
  ASSEMBLY_MIN_PART_BYTES,
  type CopySource,
  FileStorage,
  type ObjectAssembly,
  uploadAssemblyKey,
  type UploadEntity,
  type UploadPartEntity,
  UploadRepository,
} from '@app/core';

export interface JoinedObject {
  storageKey: string;
  bytes: number;
  /** Whether the store joined the parts in place (nothing copied), rather than us streaming them. */
  inPlace: boolean;
  /** Removes the object when the completion is refused after all; the parts stay readable for another try. */
  discard(): Promise<void>;
}

/**
 * How an upload's parts become one stored object. Where the store assembles (S3) and the parts were sent in
 * the order the completion names, the store joins them in place: the assembly becomes the file and no byte
 * is copied. In another order, pieces that only the assembly holds are first joined there (in the order they
 * came) so that they can be read; then the store copies the parts, in the order named, into a new object
 * (each named part but the last must be at least 5 MiB, as for any part), or else they are streamed there.
 *
 * A part marked with `joined_offset` lives at that offset of the assembled object while that object exists:
 * the marks are written before the store is asked to join, so a join whose answer is lost still leaves the
 * parts readable, and marks without an object (the join never happened) are cleared and the join repeated.
 */
@Injectable()
export class UploadJoiner {
  constructor(
    private readonly uploads: UploadRepository,
    private readonly storage: FileStorage,
  ) {}

  /** Joins `parts` (in order, holding `bytes` together) into one object, showing each chunk to `see` if given. */
  async join(
    upload: UploadEntity,
    parts: UploadPartEntity[],
    target: string,
    see?: (chunk: Buffer) => void,
  ): Promise<JoinedObject> {
    const assemblyKey = uploadAssemblyKey(upload.workspaceId, upload.id);
    const joined = await this.joinedBefore(upload, assemblyKey);
    if (!joined && this.canJoinInPlace(upload, parts)) {
      await this.joinAssembly(upload, assemblyKey, parts);
      const bytes = parts.reduce((sum, part) => sum + part.bytes, 0);
      await this.show(assemblyKey, see);
      return { storageKey: assemblyKey, bytes, inPlace: true, discard: () => Promise.resolve() };
    }
    // Every part with bytes is named (they add up to the declared size), so the named ones are all the assembly holds.
    const held = parts.filter((part) => part.storageKey === null);
    if (!joined && held.length > 0) {
      await this.joinAssembly(
        upload,
        assemblyKey,
        [...held].sort((a, b) => firstNumber(a) - firstNumber(b)),
      );
    }
    const discard = () => this.storage.delete(target);
    if (upload.assemblyId && this.storage.assembly && canCopy(parts)) {
      await this.copy(this.storage.assembly, assemblyKey, parts, target);
      try {
        await this.show(target, see);
        const bytes = (await this.storage.stat(target))?.bytes ?? 0;
        return { storageKey: target, bytes, inPlace: false, discard };
      } catch (error) {
        await discard().catch(() => undefined); // the error that matters is the one thrown
        throw error;
      }
    }
    const { bytes } = await this.storage.write(target, Readable.from(this.streamed(assemblyKey, parts, see)));
    return { storageKey: target, bytes, inPlace: false, discard };
  }

  /**
   * The parts copied by the store, in the order named, into a new object `target`: from their own objects or from
   * where they were joined. No byte passes through the api; an unfinished copy is abandoned.
   */
  private async copy(
    assembly: ObjectAssembly,
    assemblyKey: string,
    parts: UploadPartEntity[],
    target: string,
  ): Promise<void> {
    const joinedBytes = parts.some((part) => part.storageKey === null)
      ? ((await this.storage.stat(assemblyKey))?.bytes ?? 0)
      : 0;
    const sourceOf = (part: UploadPartEntity): CopySource => {
      if (part.storageKey) {
        return { key: part.storageKey, bytes: part.bytes };
      }
      if (part.joinedOffset === null) {
        throw new Error(`Part ${part.id} is held by an assembly that was not joined`);
      }
      // S3 copies a range only of an object above 5 MiB: a part that is the whole joined object is copied whole.
      const whole = part.joinedOffset === 0 && part.bytes === joinedBytes;
      return { key: assemblyKey, bytes: part.bytes, start: whole ? undefined : part.joinedOffset };
    };
    const copyId = await assembly.begin(target);
    try {
      const copied: AssembledPart[] = [];
      for (let i = 0; i < parts.length; i += COPIES_IN_FLIGHT) {
        const group = parts.slice(i, i + COPIES_IN_FLIGHT);
        copied.push(
          ...(await Promise.all(group.map((part, j) => assembly.copyPart(target, copyId, i + j + 1, sourceOf(part))))),
        );
      }
      await assembly.join(target, copyId, copied);
    } catch (error) {
      await assembly.abandon(target, copyId).catch(() => undefined); // else the remove-abandoned-writes sweep aborts it within the hour
      throw error;
    }
  }

  /**
   * In place: the store joins pieces in ascending number, and each but the last must be at least S3's
   * smallest part; so every part must be in the assembly, in the order it was sent, all but the last full.
   */
  private canJoinInPlace(upload: UploadEntity, parts: UploadPartEntity[]): boolean {
    if (!upload.assemblyId || !this.storage.assembly || parts.length === 0) {
      return false;
    }
    return parts.every(
      (part, index) =>
        part.assembled !== null &&
        (index === parts.length - 1 || part.bytes >= ASSEMBLY_MIN_PART_BYTES) &&
        (index === 0 || lastNumber(parts[index - 1]) < firstNumber(part)),
    );
  }

  /** Marks where each part will start, then has the store join their pieces into the assembled object. */
  private async joinAssembly(upload: UploadEntity, assemblyKey: string, parts: UploadPartEntity[]): Promise<void> {
    let offset = 0;
    const offsets = parts.map((part) => {
      const start = offset;
      offset += part.bytes;
      return start;
    });
    await this.uploads.markJoinedOffsets(
      parts.map((part) => part.id),
      offsets,
    );
    parts.forEach((part, index) => (part.joinedOffset = offsets[index]));
    await this.storage.assembly!.join(
      assemblyKey,
      upload.assemblyId!,
      parts.flatMap((part) => part.assembled ?? []),
    );
  }

  /** Whether an earlier completion joined the assembly (its object exists); stale marks of one that did not are cleared. */
  private async joinedBefore(upload: UploadEntity, assemblyKey: string): Promise<boolean> {
    if (!(await this.uploads.hasJoinedMarks(upload.id))) {
      return false;
    }
    if (await this.storage.stat(assemblyKey)) {
      return true;
    }
    await this.uploads.clearJoinedMarks(upload.id);
    return false;
  }

  /** Shows every chunk of a joined object to `see`, if given (the md5 and batch checks read it once). */
  private async show(key: string, see?: (chunk: Buffer) => void): Promise<void> {
    if (see) {
      for await (const chunk of await this.storage.read(key)) {
        see(chunk as Buffer);
      }
    }
  }

  /** The parts' bytes one after the other: from their own objects, or from where they were joined. */
  private async *streamed(
    assemblyKey: string,
    parts: UploadPartEntity[],
    see?: (chunk: Buffer) => void,
  ): AsyncGenerator<Buffer> {
    for (const part of parts) {
      if (part.storageKey === null && part.joinedOffset === null) {
        throw new Error(`Part ${part.id} is held by an assembly that was not joined`);
      }
      const source = part.storageKey
        ? await this.storage.read(part.storageKey)
        : await this.storage.read(assemblyKey, {
            start: part.joinedOffset!,
            end: part.joinedOffset! + part.bytes,
          });
      for await (const chunk of source) {
        see?.(chunk as Buffer);
        yield chunk as Buffer;
      }
    }
  }
}

/** Part copies the store makes at once. */
const COPIES_IN_FLIGHT = 4;

/** The store joins copied parts under the rules of any part: at most 10,000, each but the last at least 5 MiB. */
const canCopy = (parts: UploadPartEntity[]): boolean =>
  parts.length > 0 &&
  parts.length <= ASSEMBLY_MAX_PARTS &&
  parts.every((part, index) => index === parts.length - 1 || part.bytes >= ASSEMBLY_MIN_PART_BYTES);

const firstNumber = (part: UploadPartEntity): number => (part.assembled as AssembledPart[])[0].number;
const lastNumber = (part: UploadPartEntity): number => (part.assembled as AssembledPart[]).at(-1)!.number;
