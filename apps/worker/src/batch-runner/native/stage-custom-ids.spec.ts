import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalDiskStorage, type ProviderBatchEntity, stageCustomIdsKey } from '@app/core';
import type { NumberedRequest } from '../batch-input-reader';
import { StageCustomIds } from './stage-custom-ids';

const batch = { id: 'batch_1', workspaceId: 'ws_1' };
const stage = (shard: number, stageIndex: number) =>
  ({ batchId: batch.id, shard, stage: stageIndex }) as ProviderBatchEntity;

const request = (lineNumber: number, customId: string): NumberedRequest => ({
  lineNumber,
  request: { customId, url: '/v1/chat/completions', body: { model: 'm', n: lineNumber } },
});

async function* lines(...items: NumberedRequest[]): AsyncGenerator<NumberedRequest> {
  yield* items;
}

async function drain<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) {
    out.push(item);
  }
  return out;
}

describe('StageCustomIds', () => {
  let root: string;
  let ids: StageCustomIds;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'venna-custom-ids-'));
    ids = new StageCustomIds(new LocalDiskStorage(root));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const kept = async (of: ProviderBatchEntity) => {
    const table = await ids.read(batch, of);
    return table && [...table.entries()];
  };

  it('passes the lines through unchanged and keeps their custom_ids once the last has passed', async () => {
    const sent = [request(3, 'a b/c'), request(7, 'é'.repeat(80)), request(9, '{"x":1}\n')];
    const noting = ids.noting(batch, stage(0, 1), lines(...sent));
    const first = await noting.next();
    expect(first.value).toBe(sent[0]);
    expect(await ids.read(batch, stage(0, 1))).toBeNull(); // nothing kept before every line went out
    expect([first.value, ...(await drain(noting))]).toEqual(sent);
    expect(await kept(stage(0, 1))).toEqual([
      [3, 'a b/c'],
      [7, 'é'.repeat(80)],
      [9, '{"x":1}\n'],
    ]);
    expect(await ids.read(batch, stage(1, 1))).toBeNull(); // each stage keeps its own
  });

  it('keeps every custom_id of a stage larger than its first buffers, and of a stage with none', async () => {
    const sent = Array.from({ length: 3_000 }, (_, i) => request(2 * i + 1, `req "${i}" ${'ü'.repeat(i % 7)}`));
    await drain(ids.noting(batch, stage(4, 0), lines(...sent)));
    expect(await kept(stage(4, 0))).toEqual(sent.map(({ lineNumber, request }) => [lineNumber, request.customId]));

    await drain(ids.noting(batch, stage(5, 0), lines()));
    expect(await kept(stage(5, 0))).toEqual([]);
  });

  it('answers null for a stage without kept custom_ids or with unreadable ones, so the input is read instead', async () => {
    expect(await ids.read(batch, stage(2, 0))).toBeNull();
    const path = join(root, stageCustomIdsKey(batch, 'p2s0'));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, '{"lines":[1,2],"custo');
    expect(await ids.read(batch, stage(2, 0))).toBeNull();
  });
});
