import { Injectable } from '@nestjs/common';
import {
  type BatchKeyOwner,
  batchStoragePrefix,
  FileStorage,
  type JournalLine,
  ResultJournalRepository,
  segmentKey,
} from '@app/core';
import { WorkerMetrics } from '../../monitoring/worker-metrics';
import type { LineResult } from './line-result';

const NEWLINE = 0x0a;

/** A group's lines written to storage, not yet recorded: where each line stands in its segment. */
export interface StoredSegment {
  segment: string;
  lines: JournalLine[];
}

/**
 * The result journal's storage: result lines go to storage segments, one per recorded group, and
 * PostgreSQL keeps one small record per line pointing into its segment (ResultJournalRepository).
 * Recording a group also adds the group's counts and usage to the batch once.
 */
@Injectable()
export class JournalStore {
  constructor(
    private readonly records: ResultJournalRepository,
    private readonly storage: FileStorage,
    private readonly metrics: WorkerMetrics,
  ) {}

  /** Writes `group`'s lines to storage as segment `segment`; nothing counts until the segment is committed. */
  async store(batch: BatchKeyOwner, segment: string, group: readonly LineResult[]): Promise<StoredSegment> {
    // One buffer for the segment, each line encoded straight into it.
    const lengths = group.map((result) => Buffer.byteLength(result.line) + 1);
    const content = Buffer.allocUnsafe(lengths.reduce((sum, length) => sum + length, 0));
    const lines: JournalLine[] = [];
    let offset = 0;
    group.forEach((result, i) => {
      content.write(result.line, offset);
      content[offset + lengths[i] - 1] = NEWLINE;
      lines.push({
        lineNumber: result.lineNumber,
        outcome: result.outcome,
        byteOffset: offset,
        byteLength: lengths[i],
        ...result.usage,
      });
      offset += lengths[i];
    });
    await this.storage.put(segmentKey(batch, segment), content);
    return { segment, lines };
  }

  /**
   * Records a stored segment's lines. Lines already recorded (a re-sent line after a crash) are ignored, so nothing
   * is counted twice; repeating the call is harmless. Records nothing once the batch is no longer running or a finalizer has taken
   * it over. Returns how many lines were newly recorded; those, and their tokens, are counted in the metrics here.
   * `fromProvider`: the lines come from a provider batch whose reported counts `batches.provider_*` still
   * show, so they leave those counts as they join the journal's (request_counts neither doubles nor dips).
   */
  async commit(batch: BatchKeyOwner, stored: StoredSegment, fromProvider = false): Promise<number> {
    const totals = await this.records.record(batch.id, stored.segment, stored.lines, fromProvider);
    this.metrics.recorded(batch.workspaceId, totals.completed, totals.failed, {
      input: totals.inputTokens,
      cached: totals.cachedTokens,
      output: totals.outputTokens,
      reasoning: totals.reasoningTokens,
    });
    return totals.completed + totals.failed;
  }

  /** A whole segment (at most a group's bytes), in one read. */
  readSegment(batch: BatchKeyOwner, segment: string): Promise<Buffer> {
    return this.storage.get(segmentKey(batch, segment));
  }

  /**
   * Once a batch has ended: drops every stored object under its prefix except its registered output
   * and error files (journal segments, files of runs that did not commit, unfinished writes of
   * crashed runs), then its journal records. Repeating it is harmless.
   */
  async purgeFinished(batchId: string): Promise<void> {
    const ended = await this.records.endedBatchFiles(batchId);
    if (!ended) {
      return;
    }
    const keep = new Set(ended.keep);
    for await (const key of this.storage.list(batchStoragePrefix({ id: batchId, workspaceId: ended.workspaceId }))) {
      if (!keep.has(key)) {
        await this.storage.delete(key);
      }
    }
    await this.records.deleteRecords(batchId);
  }
}
