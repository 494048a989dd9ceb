import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvelope, newTenant, postJson, raw, type Tenant } from '../support/clients';
import { batchLines, createBatch, waitForBatch } from '../support/batches';
import { type ApiHandle } from '../support/processes';
import { startStack, type Stack } from '../support/stack';

const CHAT = '/v1/chat/completions' as const;

/** One workspace never sees another's files, batches or results: 404, as if they did not exist. */
describe('Workspace isolation', () => {
  let stack: Stack;
  let api: ApiHandle;
  let owner: Tenant;
  let stranger: Tenant;
  let privateFile: string;
  let batch: Awaited<ReturnType<typeof waitForBatch>>;

  beforeAll(async () => {
    stack = await startStack({ worker: {} });
    ({ api, tenant: owner } = stack);
    stranger = await newTenant(api.url);
    privateFile = (
      await owner.client.files.create({ file: await toFile(Buffer.from('secret'), 'secret.txt'), purpose: 'user_data' })
    ).id;
    const created = await createBatch(
      owner.client,
      CHAT,
      batchLines(CHAT, 'stub-iso', [
        { customId: 'a', text: 'x' },
        { customId: 'b', text: 'y [stub:fail=400]' },
      ]),
    );
    batch = await waitForBatch(owner.client, created.id);
  });
  afterAll(() => stack?.stop());

  it("answers 404 for another workspace's file on all five file endpoints, result files included", async () => {
    expect(batch.output_file_id && batch.error_file_id).toBeTruthy();
    for (const id of [
      privateFile,
      batch.input_file_id,
      batch.output_file_id as string,
      batch.error_file_id as string,
    ]) {
      for (const [method, path] of [
        ['GET', `/v1/files/${id}`],
        ['GET', `/v1/files/${id}/content`],
        ['DELETE', `/v1/files/${id}`],
      ]) {
        expectEnvelope(await raw(api.url, path, { method, key: stranger.key }), 404, {
          param: 'id',
          message: new RegExp(`No such File object: ${id}`),
        });
      }
    }
    const listed = await raw(api.url, '/v1/files', { key: stranger.key });
    expect(listed.body.data).toEqual([]);
    expectEnvelope(await raw(api.url, `/v1/files?after=${privateFile}`, { key: stranger.key }), 400, {
      param: 'after',
    });
    const upload = await stranger.client.files.create({
      file: await toFile(Buffer.from('mine'), 'mine.txt'),
      purpose: 'user_data',
    });
    expect((await owner.client.files.list()).data.map((f) => f.id)).not.toContain(upload.id);
  });

  it("answers 404 for another workspace's batch on retrieve and cancel, hides it from list, and refuses its input file", async () => {
    expectEnvelope(await raw(api.url, `/v1/batches/${batch.id}`, { key: stranger.key }), 404, { param: 'id' });
    expectEnvelope(await raw(api.url, `/v1/batches/${batch.id}/cancel`, { method: 'POST', key: stranger.key }), 404, {
      param: 'id',
    });
    expect((await stranger.client.batches.list()).data).toEqual([]);
    expectEnvelope(await raw(api.url, `/v1/batches?after=${batch.id}`, { key: stranger.key }), 400, { param: 'after' });
    const create = await postJson(api.url, '/v1/batches', stranger.key, {
      input_file_id: batch.input_file_id,
      endpoint: CHAT,
      completion_window: '24h',
    });
    expectEnvelope(create, 400, { param: 'input_file_id', message: /Cannot find file/ });
  });

  it("leaves the owner's objects intact after the stranger's attempts", async () => {
    expect((await owner.client.files.retrieve(privateFile)).id).toBe(privateFile);
    expect(await (await owner.client.files.content(privateFile)).text()).toBe('secret');
    expect((await owner.client.batches.retrieve(batch.id)).status).toBe('completed');
    const output = await (await owner.client.files.content(batch.output_file_id as string)).text();
    expect(output).toContain('"custom_id":"a"');
  });
});
