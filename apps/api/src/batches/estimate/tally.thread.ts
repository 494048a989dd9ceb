/**
 * A worker thread of TallyThreads: counts the files it is given, one at a time, pulling each file's bytes from
 * the api's event loop as it goes.
 */
import { Readable } from 'node:stream';
import { type MessagePort, parentPort } from 'node:worker_threads';
// Not '@app/core': its index loads TypeORM, Nest and the rest, seconds and tens of MB per thread for nothing.
import { MAX_BATCH_LINE_BYTES } from '@app/core/batches/batch-input-rules';
import { readLines } from '@app/core/jsonl/line-splitter';
import { tallyTokens } from './batch-estimator';
import type { TallyJob, TallyReply } from './tally-threads';

parentPort?.on('message', ({ rules, port }: TallyJob) => void tally(rules, port));

async function tally(rules: TallyJob['rules'], port: MessagePort): Promise<void> {
  const reply = (message: TallyReply) => port.postMessage(message);
  const content = new Readable({ read: () => reply({ more: true }) });
  port.on('message', (chunk: Uint8Array | null) => content.push(chunk));
  try {
    reply({ tally: await tallyTokens(readLines(content, MAX_BATCH_LINE_BYTES), rules) });
  } catch (error) {
    reply({ error: (error as Error).message });
  } finally {
    port.close();
  }
}
