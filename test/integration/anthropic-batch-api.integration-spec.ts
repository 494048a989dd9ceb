import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newBatchId, newWorkspaceId, ProviderBatchRepository, type StageKey } from '@app/core';
import { AnthropicBatchApi } from '../../apps/worker/src/providers/anthropic/anthropic-batch-api';
import type { ProviderSubmission } from '../../apps/worker/src/providers/provider-batch-api';
import { ProviderHttp } from '../../apps/worker/src/providers/provider-http';
import type { ProviderLine } from '../../apps/worker/src/providers/provider-line';
import { defaultUpstream } from '../../apps/worker/src/upstream/upstream-routes';
import { type StubHandle, startStub } from '../support/batches';
import { insertRunningBatch, insertWorkspace, migratedDataSource } from '../support/database';

const submissionOf = (tag: StageKey, lines: number): ProviderSubmission => ({
  endpoint: '/v1/chat/completions',
  completionWindow: '24h',
  tag,
  requestCount: lines,
  fileId: null,
  uploadedSince: null,
  onFileUploaded: () => Promise.resolve(),
  async *lines() {
    for (let lineNumber = 1; lineNumber <= lines; lineNumber++) {
      yield {
        lineNumber,
        request: {
          customId: `request-${lineNumber}`,
          url: '/v1/chat/completions',
          body: {
            model: 'claude-test',
            messages: [{ role: 'user', content: `question ${tag.batchId} ${lineNumber}` }],
          },
        },
      };
    }
  },
});

/**
 * Message Batches keep no metadata, so a stage recovering from a crash recognises its Message Batch by its size and
 * age alone. Two batches of the same size on one account: one stage must never take the other's answers.
 */
describe("Anthropic's Message Batches: a stage never takes another stage's batch or answers", () => {
  let stub: StubHandle;
  let agent: Agent;
  let api: AnthropicBatchApi;
  let dataSource: DataSource;
  let stages: ProviderBatchRepository;
  const ours: StageKey = { batchId: newBatchId(), shard: 0, stage: 0 };
  const theirs: StageKey = { batchId: newBatchId(), shard: 0, stage: 0 };

  beforeAll(async () => {
    dataSource = await migratedDataSource(2);
    stages = new ProviderBatchRepository(dataSource);
    const workspaceId = newWorkspaceId();
    await insertWorkspace(dataSource, workspaceId);
    for (const { batchId } of [ours, theirs]) {
      await insertRunningBatch(dataSource, batchId, workspaceId, 3);
      const range = { index: 0, firstLine: 1, lastLine: 3, lineCount: 3, startByte: 0, endByte: 300 };
      await stages.begin(batchId, range, 'anthropic');
    }
    stub = await startStub({ messageBatchMs: 50 });
    agent = new Agent();
    const upstream = { ...defaultUpstream(stub.url), name: 'anthropic', batch: 'native' as const };
    api = new AnthropicBatchApi(new ProviderHttp({ ...upstream, protocol: 'anthropic' }, agent, 5_000, () => {}), 256);
  });
  afterAll(async () => {
    await agent?.close();
    await stub?.close();
    await dataSource?.destroy();
  });

  it('leaves out of a recovery the Message Batches other stages recorded, and copies no answer of theirs', async () => {
    const intent = new Date();
    const theirBatch = await api.submit(submissionOf(theirs, 3));
    await stages.submitted(theirs, theirBatch);
    expect(await stages.recordedElsewhere(theirBatch, theirs)).toBe(false);

    // Our stage's create never reached the provider; theirs, of the same size, did since our intent.
    const ourSubmission = submissionOf(ours, 3);
    expect(await api.find(ourSubmission, intent, (id) => stages.recordedElsewhere(id, ours))).toBeNull();
    // Recorded by nobody (another gateway on the account, a stage not yet recorded), it is the one candidate.
    expect(await api.find(ourSubmission, intent, () => Promise.resolve(false))).toBe(theirBatch);

    // Taken all the same, its answers are not ours: each custom_id carries its stage's mark.
    let view = await api.retrieve(theirBatch);
    for (let i = 0; i < 100 && !view.ended; i++) {
      await sleep(50);
      view = await api.retrieve(theirBatch);
    }
    expect(view.ended).toBe(true);
    const copied = async (tag: StageKey) => {
      const lines: ProviderLine[] = [];
      for await (const page of api.results(view, tag)) {
        lines.push(...page);
      }
      return lines;
    };
    expect(await copied(ours)).toEqual([]);
    const answered = await copied(theirs);
    expect(answered.map((line) => line.lineNumber).sort()).toEqual([1, 2, 3]);
    expect(answered.every((line) => line.kind === 'answered')).toBe(true);
  });

  it("waits while several unrecorded Message Batches could be the stage's, then takes none", async () => {
    const size = 7;
    const intent = new Date();
    const a = await api.submit(submissionOf({ batchId: newBatchId(), shard: 0, stage: 0 }, size));
    const b = await api.submit(submissionOf({ batchId: newBatchId(), shard: 0, stage: 0 }, size));
    const unrecorded = () => Promise.resolve(false);
    const ourSubmission = submissionOf(ours, size);
    await expect(api.find(ourSubmission, intent, unrecorded)).rejects.toThrow(
      /2 Message Batches of 7 requests could be this stage's/,
    );
    // One of them recorded by its stage meanwhile: the other is the one candidate.
    expect(await api.find(ourSubmission, intent, (id) => Promise.resolve(id === a))).toBe(b);
    // Still two, ten minutes after the intent: neither is taken, and the stage creates its own.
    const longAgo = new Date(Date.now() - 11 * 60_000);
    expect(await api.find(ourSubmission, longAgo, unrecorded)).toBeNull();
  });
});
