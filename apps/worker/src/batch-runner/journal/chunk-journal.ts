import { type BatchKeyOwner, randomBase62 } from '@app/core';
import type { OutageGuard } from '../../infrastructure/outage-guard';
import type { JournalStore, SegmentDraft, StoredSegment } from './journal-store';
import type { LineResult } from './line-result';

/** When a group is recorded: once its first answer is `maxDelayMs` old or it holds `maxLines` answers. */
export interface GroupCommitPolicy {
  maxDelayMs: number;
  maxLines: number;
}

/** A group is also recorded once it holds this many bytes of result lines, which bounds a segment's size. */
const GROUP_MAX_BYTES = 8 * 1024 * 1024;

/** A new group's buffer: a quarter more than the last group held, and at least this (it grows by doubling; so do its columns). */
const MIN_DRAFT_BYTES = 4 * 1024;

/**
 * Groups taken from the pending answers and not yet committed: one being committed while the next is stored (the
 * storage write of one overlaps the statement of the other), and no more.
 */
const MAX_GROUPS_IN_FLIGHT = 2;

/**
 * The answers of one chunk attempt on their way into the journal. Answers are gathered into groups
 * and each group is recorded with one storage write and one database statement; a group's storage
 * write overlaps the statement of the group before, and statements run in group order. While
 * recording fails because a dependency is away, answers stay here, and `capacity()` holds the chunk
 * back from sending more requests until recording works again.
 */
export class ChunkJournal {
  private readonly attempt = randomBase62(8);
  /** The groups not yet taken, their lines encoded as they came: all full but the last, which is being filled. */
  private drafts: SegmentDraft[] = [];
  private pending = 0;
  private lastGroupBytes = MIN_DRAFT_BYTES;
  private lastGroupLines = 0;
  private sequence = 0;
  private timer: NodeJS.Timeout | undefined;
  private storing = false;
  private inFlight = 0;
  /** Settles once every group taken so far is committed or has failed; never rejects. */
  private committed: Promise<void> = Promise.resolve();
  /** The steps whose last attempt failed (a dependency away): while any has, the chunk is held back. */
  private readonly stalled = new Set<'store' | 'commit'>();
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

  private isFull(draft: SegmentDraft): boolean {
    return draft.count >= this.policy.maxLines || draft.bytes >= GROUP_MAX_BYTES;
  }

  private get groupIsFull(): boolean {
    return this.drafts.length > 0 && this.isFull(this.drafts[0]);
  }

  add(result: LineResult): void {
    let draft = this.drafts.at(-1);
    if (!draft || this.isFull(draft)) {
      const expected = this.lastGroupBytes + (this.lastGroupBytes >> 2);
      draft = this.store.draft(
        Math.min(GROUP_MAX_BYTES, Math.max(MIN_DRAFT_BYTES, expected)),
        Math.min(this.policy.maxLines, this.lastGroupLines + (this.lastGroupLines >> 2) + 1),
      );
      this.drafts.push(draft);
    }
    draft.add(result);
    this.pending++;
    if (this.groupIsFull) {
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
    while (!this.failure && !stop.aborted && (this.stalled.size > 0 || this.pending >= this.maxUnrecorded)) {
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
    while (this.pending > 0 || this.inFlight > 0) {
      if (this.failure) {
        break;
      }
      this.flushNow();
      await this.committed;
    }
    clearTimeout(this.timer);
    if (this.failure) {
      throw this.failure;
    }
  }

  private flushNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.storing || this.inFlight >= MAX_GROUPS_IN_FLIGHT || this.failure || this.pending === 0) {
      return;
    }
    const group = this.takeGroup();
    const segment = `${this.segmentPrefix}-${this.attempt}-${this.sequence++}`;
    this.storing = true;
    this.inFlight++;
    this.committed = this.flushGroup(segment, group, this.committed).finally(() => {
      this.inFlight--;
      this.flushLater();
      this.wakeWaiters();
    });
  }

  /** Stores a group, then commits it once the groups before it are committed; never rejects (a failure is kept for close()). */
  private async flushGroup(segment: string, group: SegmentDraft, before: Promise<void>): Promise<void> {
    const what = `${group.count} answer(s) of batch ${this.batch.id}`;
    try {
      let stored: StoredSegment;
      try {
        stored = await this.outages.retry(`Storing ${what}`, () =>
          this.orStall('store', () => this.store.store(this.batch, segment, group)),
        );
      } finally {
        this.storing = false;
        this.flushLater();
        this.wakeWaiters();
      }
      await before;
      if (this.failure) {
        throw this.failure; // a group before this one was lost: later ones are not committed out of order
      }
      this.recorded += await this.outages.retry(`Recording ${what}`, () =>
        this.orStall('commit', () => this.store.commit(this.batch, stored, this.fromProvider)),
      );
      group.release();
    } catch (error) {
      this.failure ??= error instanceof Error ? error : new Error(String(error));
      this.drafts.unshift(group);
      this.pending += group.count;
      this.stalled.clear();
    }
  }

  /** Runs one attempt at a step; while a step's attempts fail (a dependency away), the chunk is held back. */
  private async orStall<T>(step: 'store' | 'commit', attempt: () => Promise<T>): Promise<T> {
    try {
      const result = await attempt();
      this.stalled.delete(step);
      return result;
    } catch (error) {
      this.stalled.add(step);
      throw error;
    }
  }

  /** After a flush: the next group goes now if it is full, else once the oldest pending answer has waited. */
  private flushLater(): void {
    if (this.pending === 0 || this.failure) {
      return;
    }
    if (this.groupIsFull) {
      this.flushNow();
    } else {
      this.timer ??= setTimeout(() => this.flushNow(), this.policy.maxDelayMs);
    }
  }

  private takeGroup(): SegmentDraft {
    const group = this.drafts.shift() as SegmentDraft;
    this.pending -= group.count;
    this.lastGroupBytes = group.bytes;
    this.lastGroupLines = group.count;
    return group;
  }

  private wakeWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((wake) => wake());
  }
}
