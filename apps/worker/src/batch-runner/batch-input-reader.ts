import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  type BatchEntity,
  type ByteRange,
  FileEntity,
  FileStorage,
  MAX_BATCH_LINE_BYTES,
  type RawLine,
  readLines,
  StoredObjectMissingError,
} from '@app/core';

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

  /**
   * The input's lines (all, or one window of them), or null when the input file no longer exists.
   * Lines come undecoded: each reader parses only the lines it needs (see parseJsonLine).
   */
  async open(batch: BatchEntity, window?: InputWindow): Promise<AsyncIterable<RawLine> | null> {
    const file = await this.dataSource
      .getRepository(FileEntity)
      .findOneBy({ id: batch.inputFileId, workspaceId: batch.workspaceId });
    if (!file) {
      return null;
    }
    try {
      const content = await this.storage.read(file.storageKey, window);
      return readLines(content, MAX_BATCH_LINE_BYTES, window?.firstLine ?? 1, window?.start ?? 0);
    } catch (error) {
      if (error instanceof StoredObjectMissingError) {
        return null;
      }
      throw error;
    }
  }
}
