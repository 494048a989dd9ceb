import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';

/**
 * Fires on SIGTERM before the queue workers close: running chunks stop taking new lines, let
 * in-flight requests finish, and hand their jobs back to the queue.
 */
@Injectable()
export class WorkerDrain implements BeforeApplicationShutdown {
  private readonly logger = new Logger(WorkerDrain.name);
  private readonly controller = new AbortController();

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  beforeApplicationShutdown(signal?: string): void {
    this.logger.log(`Draining (${signal ?? 'shutdown'}): finishing in-flight requests, handing back the rest`);
    this.controller.abort();
  }
}
