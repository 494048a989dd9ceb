import { Injectable, Logger } from '@nestjs/common';
import {
  type BatchKeyOwner,
  FileStorage,
  keyOf,
  type ProviderBatchEntity,
  stageCustomIdsKey,
  stageSegmentPrefix,
  StoredObjectMissingError,
} from '@app/core';
import type { NumberedRequest } from '../batch-input-reader';
import { CustomIdTable, NotedCustomIds } from './custom-id-table';

/**
 * The custom_id of each line a stage sends, stored as the lines go to the provider: copying its results back then
 * reads one small object instead of the whole input again (a JSON parse of every request, on the path from the
 * provider's end to ours). Only an aid: without it (a failed write, a stage sent by an earlier version) the input
 * is read as before.
 */
@Injectable()
export class StageCustomIds {
  private readonly logger = new Logger(StageCustomIds.name);

  constructor(private readonly storage: FileStorage) {}

  /** Passes the stage's lines through, noting their custom_ids, and stores those once every line has passed. */
  async *noting(
    batch: BatchKeyOwner,
    stage: ProviderBatchEntity,
    lines: AsyncIterable<NumberedRequest>,
  ): AsyncGenerator<NumberedRequest> {
    const noted = new NotedCustomIds();
    for await (const line of lines) {
      noted.add(line.lineNumber, line.request.customId);
      yield line;
    }
    await this.storage
      .put(this.keyFor(batch, stage), noted.json())
      .catch((error: Error) =>
        this.logger.warn(`Could not keep the custom_ids of a stage of batch ${batch.id}: ${error.message}`),
      );
  }

  /** The stage's custom_ids by line number, or null when none are stored (or they are unreadable). */
  async read(batch: BatchKeyOwner, stage: ProviderBatchEntity): Promise<CustomIdTable | null> {
    try {
      return CustomIdTable.parse(await this.storage.get(this.keyFor(batch, stage)));
    } catch (error) {
      if (error instanceof StoredObjectMissingError) {
        return null;
      }
      throw error;
    }
  }

  private keyFor(batch: BatchKeyOwner, stage: ProviderBatchEntity): string {
    return stageCustomIdsKey(batch, stageSegmentPrefix(keyOf(stage)));
  }
}
