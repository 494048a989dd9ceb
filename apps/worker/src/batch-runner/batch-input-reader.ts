import { Injectable } from '@nestjs/common';
import {
  type BatchEntity,
  FileRepository,
  type BatchRequestLine,
  type ByteRange,
  checkRequestLine,
  FileStorage,
  isBatchProblem,
  isBlankLine,
  MAX_BATCH_LINE_BYTES,
  parseJsonLine,
  type RawLine,
  readLines,
  StoredObjectMissingError,
} from '@app/core';

/** One valid request of the input, with its line number. */
export interface NumberedRequest {
  lineNumber: number;
  request: BatchRequestLine;
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
    private readonly files: FileRepository,
    private readonly storage: FileStorage,
  ) {}

  /**
   * The input's lines (all, or one window of them), or null when the input file no longer exists.
   * Lines come undecoded: each reader parses only the lines it needs (see parseJsonLine).
   */
  async open(batch: BatchEntity, window?: InputWindow): Promise<AsyncIterable<RawLine> | null> {
    const file = await this.files.findEvenExpired(batch.workspaceId, batch.inputFileId);
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

  /**
   * The valid requests of a window of the input (validation has already refused a batch with invalid ones),
   * or null when the input file no longer exists. `wanted` passes over lines before they are parsed.
   */
  async requests(
    batch: BatchEntity,
    window: InputWindow,
    wanted: (lineNumber: number) => boolean = () => true,
  ): Promise<AsyncIterable<NumberedRequest> | null> {
    const lines = await this.open(batch, window);
    return lines && requestsOf(lines, batch.endpoint, wanted);
  }

  /**
   * The custom_id of each request of a window, or null when the input file no longer exists. Read without the
   * line checks: only for a batch validation has passed, whose every non-blank line is a valid request.
   */
  async customIds(
    batch: BatchEntity,
    window: InputWindow,
    wanted: (lineNumber: number) => boolean,
  ): Promise<Map<number, string> | null> {
    const lines = await this.open(batch, window);
    if (!lines) {
      return null;
    }
    const customIds = new Map<number, string>();
    for await (const line of lines) {
      if (wanted(line.number) && !isBlankLine(line.bytes)) {
        const { custom_id: customId } = JSON.parse(line.bytes.toString('utf8')) as { custom_id: string };
        customIds.set(line.number, customId);
      }
    }
    return customIds;
  }
}

async function* requestsOf(
  lines: AsyncIterable<RawLine>,
  endpoint: string,
  wanted: (lineNumber: number) => boolean,
): AsyncGenerator<NumberedRequest> {
  for await (const line of lines) {
    if (!wanted(line.number)) {
      continue;
    }
    const parsed = parseJsonLine(line.bytes);
    if (parsed.kind !== 'object') {
      continue;
    }
    const request = checkRequestLine(parsed.value, line.number, endpoint);
    if (!isBatchProblem(request)) {
      yield { lineNumber: line.number, request };
    }
  }
}
