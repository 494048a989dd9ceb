import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { BatchLogContext } from '../batch-log-context';
import type { AbandonShardStep } from './abandon-shard.step';
import type { RunShardStep } from './run-shard.step';
import { ShardProcessor } from './shard.processor';

/** The shard job's last attempt, and only it, abandons the shard before the job fails. */
describe('ShardProcessor: a shard job failing for good', () => {
  const failure = new Error('the database refused the statement');

  async function attempt(attemptsMade: number) {
    const abandoned: unknown[][] = [];
    const processor = new ShardProcessor(
      { run: () => Promise.reject(failure) } as unknown as RunShardStep,
      { run: (...args: unknown[]) => Promise.resolve(void abandoned.push(args)) } as unknown as AbandonShardStep,
      { run: (_job: unknown, work: () => Promise<void>) => work() } as unknown as BatchLogContext,
    );
    const job = {
      data: { batchId: 'batch_1', workspaceId: 'ws_1', shard: { index: 2 } },
      attemptsMade,
      opts: { attempts: 5 },
    } as unknown as Job;
    await expect(processor.process(job)).rejects.toBe(failure);
    return abandoned;
  }

  it('abandons the shard at the last attempt, then fails with its own error', async () => {
    expect(await attempt(4)).toEqual([['batch_1', 2, failure]]);
  });

  it('leaves the shard to the next attempt before that', async () => {
    expect(await attempt(0)).toEqual([]);
    expect(await attempt(3)).toEqual([]);
  });
});
