import { Injectable } from '@nestjs/common';
import { WorkerEnvironment } from '../config/worker-environment';

/** The process-wide budget of upstream requests in flight (WORKER_CONCURRENCY), shared by all chunks. */
@Injectable()
export class RequestSlots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(env: WorkerEnvironment) {
    this.free = env.WORKER_CONCURRENCY;
  }

  /** Resolves true with a slot, or false if `signal` fires first. */
  acquire(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) {
      return Promise.resolve(false);
    }
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = () => {
        signal.removeEventListener('abort', give_up);
        resolve(true);
      };
      const give_up = () => {
        this.waiting.splice(this.waiting.indexOf(grant), 1);
        resolve(false);
      };
      this.waiting.push(grant);
      signal.addEventListener('abort', give_up, { once: true });
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) {
      next();
    } else {
      this.free++;
    }
  }
}
