import type { BatchRepository } from '@app/core';

export type StopReason = 'not_running' | 'expired' | 'draining';

/**
 * Watches a running batch for as long as a chunk works on it: aborts `signal` once the batch leaves
 * in_progress (cancel), passes its expires_at, or the worker drains for shutdown.
 */
export class BatchWatch {
  private readonly controller = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly onDrain: () => void;
  reason: StopReason | null = null;

  constructor(
    private readonly batches: BatchRepository,
    private readonly batchId: string,
    expiresAt: Date,
    pollMs: number,
    private readonly drain: AbortSignal,
  ) {
    const untilExpiry = expiresAt.getTime() - Date.now();
    this.timers.push(setTimeout(() => this.stop('expired'), Math.max(0, Math.min(untilExpiry, 2 ** 31 - 1))));
    this.timers.push(setInterval(() => void this.poll(), pollMs));
    this.onDrain = () => this.stop('draining');
    if (drain.aborted) {
      this.stop('draining');
    } else {
      drain.addEventListener('abort', this.onDrain, { once: true });
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  close(): void {
    this.timers.forEach(clearTimeout);
    this.drain.removeEventListener('abort', this.onDrain);
  }

  private async poll(): Promise<void> {
    try {
      if ((await this.batches.statusOf(this.batchId)) !== 'in_progress') {
        this.stop('not_running');
      }
    } catch {
      // A missed poll is retried on the next tick.
    }
  }

  private stop(reason: StopReason): void {
    if (!this.controller.signal.aborted) {
      this.reason = reason;
      this.controller.abort();
      this.close();
    }
  }
}
