import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  type BatchEntity,
  type ByteRange,
  FileEntity,
  FileStorage,
  MAX_BATCH_LINE_BYTES,
  type ParsedLine,
  parseJsonLine,
  type RawLine,
  readLines,
  StoredObjectMissingError,
} from '@app/core';

/** One physical line of a batch's input file, decoded. */
export interface InputLine {
  number: number;
  start: number;
  end: number;
  parsed: ParsedLine;
}

/** Where to start reading: the byte range of a chunk and the number of its first line. */
export interface InputWindow extends ByteRange {
  firstLine: number;
}

/**
 * The one way to read a batch's input (validate, execute and finalize all use it): the batch's own
 * input file, looked up within the batch's workspace, streamed line by line.
 */
@Injectable()
export class BatchInputReader {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly storage: FileStorage,
  ) {}

  /** The input's lines (all, or one window of them), or null when the input file no longer exists. */
  async open(batch: BatchEntity, window?: InputWindow): Promise<AsyncIterable<InputLine> | null> {
    const file = await this.dataSource
      .getRepository(FileEntity)
      .findOneBy({ id: batch.inputFileId, workspaceId: batch.workspaceId });
    if (!file) {
      return null;
    }
    try {
      const content = await this.storage.read(file.storageKey, window);
      return decodeInputLines(readLines(content, MAX_BATCH_LINE_BYTES, window?.firstLine ?? 1, window?.start ?? 0));
    } catch (error) {
      if (error instanceof StoredObjectMissingError) {
        return null;
      }
      throw error;
    }
  }
}

export async function* decodeInputLines(lines: AsyncIterable<RawLine>): AsyncGenerator<InputLine> {
  for await (const line of lines) {
    yield { number: line.number, start: line.start, end: line.end, parsed: parseJsonLine(line.bytes) };
  }
}
