import { type BatchKeyOwner, randomBase62 } from '@app/core';
import type { OutageGuard } from '../../infrastructure/outage-guard';
import type { JournalStore } from './journal-store';
import type { LineResult } from './line-result';

/** When a group is recorded: once its first answer is `maxDelayMs` old or it holds `maxLines` answers. */
export interface GroupCommitPolicy {
  maxDelayMs: number;
  maxLines: number;
}

/** A group is also recorded once it holds this many bytes of result lines, which bounds a segment's size. */
const GROUP_MAX_BYTES = 8 * 1024 * 1024;

/**
 * The answers of one chunk attempt on their way into the journal. Answers are gathered into groups
 * and each group is recorded with one storage write and one database statement. While recording
 * fails because a dependency is away, answers stay here, and `capacity()` holds the chunk back from
 * sending more requests until recording works again.
 */
export class ChunkJournal {
  private readonly attempt = randomBase62(8);
  private pending: LineResult[] = [];
  private pendingBytes = 0;
  private sequence = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | null = null;
  private stalled = false;
  private failure: Error | null = null;
  private waiters: (() => void)[] = [];
  recorded = 0;

  constructor(
    private readonly store: JournalStore,
    private readonly outages: OutageGuard,
    private readonly batch: BatchKeyOwner,
    /** Names this writer's segments: `c<chunk>` for a chunk, `p<shard>s<stage>` for a provider batch's stage. */
    private readonly segmentPrefix: string,
    private readonly policy: GroupCommitPolicy,
    private readonly fromProvider = false,
  ) {}

  /** Answers held before the chunk stops sending: more than this means recording does not keep up. */
  private get maxUnrecorded(): number {
    return 2 * this.policy.maxLines;
  }

  add(result: LineResult): void {
    this.pending.push(result);
    this.pendingBytes += result.line.length;
    if (this.pending.length >= this.policy.maxLines || this.pendingBytes >= GROUP_MAX_BYTES) {
      this.flushNow();
    } else {
      this.timer ??= setTimeout(() => this.flushNow(), this.policy.maxDelayMs);
    }
  }

  /**
   * Resolves true when the chunk may send another request: recording keeps up and has not failed.
   * Resolves false if `stop` fires or recording has failed for good (close() then reports why).
   */
  async capacity(stop: AbortSignal): Promise<boolean> {
    while (!this.failure && !stop.aborted && (this.stalled || this.pending.length >= this.maxUnrecorded)) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          stop.removeEventListener('abort', wake);
          resolve();
        };
        this.waiters.push(wake);
        stop.addEventListener('abort', wake, { once: true });
      });
    }
    return !this.failure && !stop.aborted;
  }

  /** Records everything still pending; throws if recording failed for good (the answers are then lost and will be re-sent). */
  async close(): Promise<void> {
    while (this.pending.length > 0 || this.flushing) {
      if (this.failure) {
        break;
      }
      this.flushNow();
      await this.flushing;
    }
    clearTimeout(this.timer);
    if (this.failure) {
      throw this.failure;
    }
  }

  private flushNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.flushing || this.failure || this.pending.length === 0) {
      return;
    }
    this.flushing = this.flushGroups().finally(() => {
      this.flushing = null;
      this.wakeWaiters();
      if (this.pending.length > 0 && !this.failure) {
        this.timer ??= setTimeout(
          () => this.flushNow(),
          this.pending.length >= this.policy.maxLines ? 0 : this.policy.maxDelayMs,
        );
      }
    });
  }

  /** Records the pending answers group by group; never rejects (a failure is kept for close()). */
  private async flushGroups(): Promise<void> {
    const group = this.takeGroup();
    const segment = `${this.segmentPrefix}-${this.attempt}-${this.sequence++}`;
    try {
      this.recorded += await this.outages.retry(`Recording ${group.length} answer(s) of batch ${this.batch.id}`, () =>
        this.recordOrStall(segment, group),
      );
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      this.pending = [...group, ...this.pending];
    } finally {
      this.stalled = false;
    }
  }

  private async recordOrStall(segment: string, group: LineResult[]): Promise<number> {
    try {
      return await this.store.record(this.batch, segment, group, this.fromProvider);
    } catch (error) {
      this.stalled = true;
      throw error;
    }
  }

  private takeGroup(): LineResult[] {
    let bytes = 0;
    let count = 0;
    while (count < this.pending.length && count < this.policy.maxLines && (count === 0 || bytes < GROUP_MAX_BYTES)) {
      bytes += this.pending[count].line.length;
      count++;
    }
    const group = this.pending.slice(0, count);
    this.pending = this.pending.slice(count);
    this.pendingBytes -= bytes;
    return group;
  }

  private wakeWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((wake) => wake());
  }
}
