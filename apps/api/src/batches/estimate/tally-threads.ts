import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { ApiEnvironment } from '../../config/api-environment';
import type { EstimateRules, TokenTally } from './batch-estimator';

/** What a thread is given for one file: the rules, and the port its bytes arrive on (a chunk, or null at the end). */
export interface TallyJob {
  rules: EstimateRules;
  port: MessagePort;
}

/** What a thread says on that port: it wants the next chunk, or it is done. */
export type TallyReply = { more: true } | { tally: TokenTally } | { error: string };

/**
 * Counts batch input files on worker threads: parsing and tokenizing up to BATCH_MAX_FILE_BYTES would otherwise hold
 * the event loop (and every other request) for seconds. At most ESTIMATE_CONCURRENCY files are counted at once per
 * process; the others wait their turn in order, without opening their file. Threads are kept for the next file:
 * each loads the tokenizers once.
 */
@Injectable()
export class TallyThreads implements OnModuleDestroy {
  private readonly slots: number;
  private running = 0;
  private readonly queue: (() => void)[] = [];
  private readonly idle: Worker[] = [];

  constructor(env: ApiEnvironment) {
    this.slots = env.ESTIMATE_CONCURRENCY;
  }

  /** Once a slot is free: opens the file (`open` may refuse it) and counts it on a thread. */
  async tally(rules: EstimateRules, open: () => Promise<Readable>): Promise<TokenTally> {
    await this.turn();
    try {
      return await this.onThread(rules, await open());
    } finally {
      this.release();
    }
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all(this.idle.splice(0).map((thread) => thread.terminate()));
  }

  private async turn(): Promise<void> {
    if (this.running < this.slots) {
      this.running++;
      return;
    }
    // The slot is handed over as it is freed, so no newcomer can take it in between.
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) {
      next();
    } else {
      this.running--;
    }
  }

  /** The thread pulls the content chunk by chunk (so it is read no faster than counted); a failed thread is dropped. */
  private async onThread(rules: EstimateRules, content: Readable): Promise<TokenTally> {
    const thread = this.idle.pop() ?? this.spawn();
    const { port1: port, port2 } = new MessageChannel();
    const chunks = content[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let fail: (error: Error) => void = () => undefined;
    const crashed = (error: Error) => fail(error);
    const exited = (code: number) => fail(new Error(`The estimate thread exited (code ${code})`));
    thread.once('error', crashed).once('exit', exited);
    try {
      const tally = await new Promise<TokenTally>((resolve, reject) => {
        fail = reject;
        port.on('message', (reply: TallyReply) => {
          if ('more' in reply) {
            chunks.next().then(({ done, value }) => port.postMessage(done ? null : value), reject);
          } else if ('tally' in reply) {
            resolve(reply.tally);
          } else {
            reject(new Error(reply.error));
          }
        });
        thread.postMessage({ rules, port: port2 } satisfies TallyJob, [port2]);
      });
      this.idle.push(thread);
      return tally;
    } catch (error) {
      await thread.terminate();
      throw error;
    } finally {
      thread.off('error', crashed).off('exit', exited);
      port.close();
      content.destroy();
    }
  }

  private spawn(): Worker {
    const thread = new Worker(join(__dirname, 'tally.thread.js'));
    // An idle thread never keeps the process alive, and one that dies is not handed out again.
    thread.unref();
    thread.once('exit', () => {
      const at = this.idle.indexOf(thread);
      if (at >= 0) {
        this.idle.splice(at, 1);
      }
    });
    return thread;
  }
}
