import OpenAI, { toFile } from 'openai';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvelope, newTenant, postJson, raw, type Tenant } from '../support/clients';
import { batchLines, numbered, startStub, type StubHandle, uploadBatchInput } from '../support/batches';
import { type ApiHandle, type AppProcess, startApi, startWorker } from '../support/processes';
import { type TestStorage } from '../support/storage';
import { startStack, type Stack } from '../support/stack';

/** `Idempotency-Key` on POST /v1/files and POST /v1/batches: a repeat answers the first answer, creates nothing. */
describe('Idempotency-Key', () => {
  let stack: Stack;
  let storage: TestStorage;
  let api: ApiHandle;
  let tenant: Tenant;
  let other: Tenant;
  let db: Client;
  let inputFileId: string;

  const batchBody = () => ({
    input_file_id: inputFileId,
    endpoint: '/v1/chat/completions' as const,
    completion_window: '24h' as const,
    metadata: { run: 'nightly' },
  });
  const countRows = async (table: 'batches' | 'files' | 'uploads', workspaceId: string) =>
    Number((await db.query(`SELECT count(*) AS n FROM ${table} WHERE workspace_id = $1`, [workspaceId])).rows[0].n);
  const postBatch = (key: string | null, body: unknown, apiKey = tenant.key, url = api.url) =>
    raw(url, '/v1/batches', {
      method: 'POST',
      key: apiKey,
      headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'idempotency-key': key }) },
      body: JSON.stringify(body),
    });
  const postFile = (key: string, content: string, name = 'input.jsonl', purpose = 'batch') => {
    const form = new FormData();
    form.append('file', new Blob([content]), name);
    form.append('purpose', purpose);
    return raw(api.url, '/v1/files', {
      method: 'POST',
      key: tenant.key,
      headers: { 'idempotency-key': key },
      body: form,
    });
  };

  beforeAll(async () => {
    stack = await startStack({ storage: true, db: true });
    ({ storage, api, tenant, db } = stack);
    other = await newTenant(api.url);
    inputFileId = (await uploadBatchInput(tenant.client, batchLines('/v1/chat/completions', 'm', numbered(2)))).id;
  });
  afterAll(() => stack?.stop());

  // openai 7.57 leaves its `idempotencyHeader` unset: the `idempotencyKey` request option is dropped and its
  // retries carry no key. The key goes as a header option, which the SDK sends on every attempt.
  it('the SDK sends the key: a repeat answers the same batch, replayed, and only one exists', async () => {
    const before = await countRows('batches', tenant.workspaceId);
    const sent: (string | null)[] = [];
    const client = new OpenAI({
      baseURL: `${api.url}/v1`,
      apiKey: tenant.key,
      maxRetries: 0,
      fetch: (url: string | URL | Request, init?: RequestInit) => {
        sent.push(new Headers(init?.headers).get('idempotency-key'));
        return fetch(url, init);
      },
    });
    const first = await client.batches.create(batchBody(), { headers: { 'Idempotency-Key': 'k1' } }).withResponse();
    const again = await client.batches.create(batchBody(), { headers: { 'Idempotency-Key': 'k1' } }).withResponse();
    expect(sent).toEqual(['k1', 'k1']);
    expect(again.data).toEqual(first.data);
    expect(first.response.headers.get('idempotent-replayed')).toBeNull();
    expect(again.response.headers.get('idempotent-replayed')).toBe('true');
    expect(await countRows('batches', tenant.workspaceId)).toBe(before + 1);
    // Byte for byte, key order included.
    const replay = await postBatch('k1', batchBody());
    expect(JSON.stringify(replay.body)).toBe(JSON.stringify(first.data));
  });

  it("the SDK's own retries resend the key: a lost answer retried creates one batch", async () => {
    const before = await countRows('batches', tenant.workspaceId);
    const sent: (string | null)[] = [];
    let dropped = false;
    const client = new OpenAI({
      baseURL: `${api.url}/v1`,
      apiKey: tenant.key,
      maxRetries: 2,
      fetch: async (url: string | URL | Request, init?: RequestInit) => {
        sent.push(new Headers(init?.headers).get('idempotency-key'));
        const response = await fetch(url, init);
        if (!dropped) {
          // The batch is created, but its answer never reaches the client: the SDK retries.
          dropped = true;
          await response.arrayBuffer();
          throw new TypeError('fetch failed: connection reset');
        }
        return response;
      },
    });
    const batch = await client.batches.create(batchBody(), { headers: { 'Idempotency-Key': 'k-lost' } });
    expect(sent).toEqual(['k-lost', 'k-lost']);
    expect(await countRows('batches', tenant.workspaceId)).toBe(before + 1);
    await expect(tenant.client.batches.retrieve(batch.id)).resolves.toMatchObject({ id: batch.id });
  });

  it('five repeats at once make one batch, and all five answer it', async () => {
    const before = await countRows('batches', tenant.workspaceId);
    const answers = await Promise.all(Array.from({ length: 5 }, () => postBatch('k-concurrent', batchBody())));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).toHaveLength(4);
    expect(await countRows('batches', tenant.workspaceId)).toBe(before + 1);
  });

  it('the same key with another request answers 409 idempotency_key_reused', async () => {
    const first = await postBatch('k-reused', batchBody());
    expect(first.status).toBe(200);
    const changed = await postBatch('k-reused', { ...batchBody(), metadata: { run: 'weekly' } });
    expectEnvelope(changed, 409, { code: 'idempotency_key_reused', param: 'Idempotency-Key', message: /k-reused/ });
    // The same fields in another order are the same request.
    const { metadata, ...rest } = batchBody();
    const reordered = await postBatch('k-reused', { metadata, ...rest });
    expect(reordered.body.id).toBe(first.body.id);
    // Another endpoint is another request.
    expectEnvelope(await postFile('k-reused', '{"custom_id":"x"}\n', 'x.jsonl'), 409, {
      code: 'idempotency_key_reused',
    });
  });

  it('keys belong to a workspace: the same key elsewhere is a key of its own', async () => {
    const otherInput = await uploadBatchInput(other.client, batchLines('/v1/chat/completions', 'm', numbered(1)));
    const mine = await postBatch('k-shared', batchBody());
    const theirs = await postBatch('k-shared', { ...batchBody(), input_file_id: otherInput.id }, other.key);
    expect(mine.status).toBe(200);
    expect(theirs.status).toBe(200);
    expect(theirs.body.id).not.toBe(mine.body.id);
    expect(theirs.body.input_file_id).toBe(otherInput.id);
  });

  it('a request that fails does not keep its key: a 4xx answers again, then a valid request takes it', async () => {
    const before = await countRows('batches', tenant.workspaceId);
    const missing = { ...batchBody(), input_file_id: 'file-doesnotexist' };
    expectEnvelope(await postBatch('k-invalid', missing), 400, { param: 'input_file_id' });
    expectEnvelope(await postBatch('k-invalid', { ...batchBody(), completion_window: '1h' }), 400, {
      param: 'completion_window',
    });
    const valid = await postBatch('k-invalid', batchBody());
    expect(valid.status).toBe(200);
    expect(valid.headers.get('idempotent-replayed')).toBeNull();
    expect(await countRows('batches', tenant.workspaceId)).toBe(before + 1);
    const keys = await db.query(`SELECT state FROM idempotency_keys WHERE workspace_id = $1 AND key = 'k-invalid'`, [
      tenant.workspaceId,
    ]);
    expect(keys.rows).toEqual([{ state: 'completed' }]);
  });

  it('a key whose holder died (its hold lapses unrenewed) is taken over by a repeat, which executes', async () => {
    const first = await postBatch('k-dead', batchBody());
    // What a holder killed mid-request leaves: a running key, its hold running out in a second, no answer.
    await db.query(
      `UPDATE idempotency_keys SET state = 'running', response_status = NULL, response_body = NULL,
         lock_token = 'dead-holder', locked_until = clock_timestamp() + interval '1 second'
       WHERE workspace_id = $1 AND key = 'k-dead'`,
      [tenant.workspaceId],
    );
    const started = Date.now();
    const repeat = await postBatch('k-dead', batchBody());
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(repeat.status).toBe(200);
    expect(repeat.headers.get('idempotent-replayed')).toBeNull();
    expect(repeat.body.id).not.toBe(first.body.id);
    expect((await postBatch('k-dead', batchBody())).body.id).toBe(repeat.body.id);
  });

  it('an empty or too long key answers 400 naming the header', async () => {
    expectEnvelope(await postBatch('', batchBody()), 400, { param: 'Idempotency-Key', message: /Idempotency-Key/ });
    expectEnvelope(await postBatch('x'.repeat(256), batchBody()), 400, { param: 'Idempotency-Key' });
    expect((await postBatch('x'.repeat(255), batchBody())).status).toBe(200);
  });

  it('files: the SDK repeat answers the same File, and the repeat leaves no second stored object', async () => {
    const workspace = tenant.workspaceId;
    const content = batchLines('/v1/chat/completions', 'm', numbered(3));
    const storedBefore = await storage.everything(`${workspace}/files/`);
    const upload = async () =>
      tenant.client.files.create(
        { file: await toFile(Buffer.from(content), 'same.jsonl'), purpose: 'batch' },
        { headers: { 'Idempotency-Key': 'kf1' } },
      );
    const first = await upload();
    const again = await upload();
    expect(again).toEqual(first);
    const stored = await storage.everything(`${workspace}/files/`);
    expect(stored.filter((key) => !storedBefore.includes(key))).toEqual([`${workspace}/files/${first.id}`]);

    // Other bytes, another name or another purpose under the same key: 409, and those bytes are not kept either.
    const otherBytes = batchLines('/v1/chat/completions', 'm', numbered(4));
    expectEnvelope(await postFile('kf1', otherBytes, 'same.jsonl'), 409, { code: 'idempotency_key_reused' });
    expectEnvelope(await postFile('kf1', content, 'renamed.jsonl'), 409, { code: 'idempotency_key_reused' });
    expectEnvelope(await postFile('kf1', content, 'same.jsonl', 'user_data'), 409, { code: 'idempotency_key_reused' });
    expect(await storage.everything(`${workspace}/files/`)).toEqual(stored);
  });

  it('files: five uploads at once under one key make one File and one stored object', async () => {
    const fresh = await newTenant(api.url);
    const content = batchLines('/v1/chat/completions', 'm', numbered(50));
    const form = () => {
      const data = new FormData();
      data.append('file', new Blob([content]), 'burst.jsonl');
      data.append('purpose', 'batch');
      return data;
    };
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        raw(api.url, '/v1/files', {
          method: 'POST',
          key: fresh.key,
          headers: { 'idempotency-key': 'kf-burst' },
          body: form(),
        }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(await countRows('files', fresh.workspaceId)).toBe(1);
    expect(await storage.everything(`${fresh.workspaceId}/files/`)).toEqual([
      `${fresh.workspaceId}/files/${answers[0].body.id}`,
    ]);
    expect((await fresh.client.files.list()).data.map((f) => f.id)).toEqual([answers[0].body.id]);
  });

  it('a key is remembered for IDEMPOTENCY_TTL_SECONDS, then forgotten; the sweeper deletes what expired', async () => {
    const shortLived = await startApi({ ...storage.env, IDEMPOTENCY_TTL_SECONDS: '1' });
    let worker: AppProcess | undefined;
    let stub: StubHandle | undefined;
    try {
      const first = await postBatch('k-ttl', batchBody(), tenant.key, shortLived.url);
      const row = await db.query(
        `SELECT extract(epoch FROM expires_at - created_at)::int AS ttl FROM idempotency_keys
         WHERE workspace_id = $1 AND key = 'k-ttl'`,
        [tenant.workspaceId],
      );
      expect(row.rows).toEqual([{ ttl: 1 }]);
      await expect
        .poll(async () => (await postBatch('k-ttl', batchBody(), tenant.key, shortLived.url)).body.id, {
          timeout: 10_000,
        })
        .not.toBe(first.body.id);

      // The default keeps a key a day.
      await postBatch('k-day', batchBody());
      const day = await db.query(
        `SELECT extract(epoch FROM expires_at - created_at)::int AS ttl FROM idempotency_keys
         WHERE workspace_id = $1 AND key = 'k-day'`,
        [tenant.workspaceId],
      );
      expect(day.rows).toEqual([{ ttl: 86_400 }]);

      await db.query(
        `UPDATE idempotency_keys SET expires_at = clock_timestamp() - interval '1 second'
         WHERE workspace_id = $1 AND key = 'k-day'`,
        [tenant.workspaceId],
      );
      stub = await startStub();
      worker = await startWorker(stub.url, api.storageDir, { ...storage.env, BATCH_SWEEP_INTERVAL_MS: '1000' });
      await expect
        .poll(
          async () =>
            (
              await db.query(`SELECT key FROM idempotency_keys WHERE workspace_id = $1 AND key = 'k-day'`, [
                tenant.workspaceId,
              ])
            ).rowCount,
          { timeout: 10_000 },
        )
        .toBe(0);
      const kept = await db.query(`SELECT 1 FROM idempotency_keys WHERE workspace_id = $1 AND key = 'k1'`, [
        tenant.workspaceId,
      ]);
      expect(kept.rowCount).toBe(1);
    } finally {
      await worker?.stop();
      await stub?.close();
      await shortLived.stop();
    }
  });

  it('Swagger documents the header as an extension on both creates', async () => {
    const { body: doc } = await raw(api.url, '/docs-json');
    for (const path of ['/v1/files', '/v1/batches', '/v1/uploads']) {
      const create = doc.paths[path].post;
      const header = create.parameters.find((p: { name: string }) => p.name === 'Idempotency-Key');
      expect(header).toMatchObject({ in: 'header', required: false, schema: { maxLength: 255 } });
      expect(header.description).toMatch(/Venna extension/);
      expect(create.responses['409']).toBeDefined();
    }
  });

  it('uploads: the SDK repeat answers the same Upload, one exists; another request under the key answers 409', async () => {
    const before = await countRows('uploads', tenant.workspaceId);
    const body = { filename: 'big.jsonl', purpose: 'batch' as const, bytes: 1000, mime_type: 'application/jsonl' };
    const options = { headers: { 'Idempotency-Key': 'k-upload' } };
    const first = await tenant.client.uploads.create(body, options);
    const again = await tenant.client.uploads.create(body, options).withResponse();
    expect(again.data).toEqual(first);
    expect(again.response.headers.get('idempotent-replayed')).toBe('true');
    expect(await countRows('uploads', tenant.workspaceId)).toBe(before + 1);
    expect((await postJson(api.url, '/v1/uploads', tenant.key, { ...body, bytes: 1001 })).status).toBe(200);
    const conflicting = await raw(api.url, '/v1/uploads', {
      method: 'POST',
      key: tenant.key,
      headers: { 'content-type': 'application/json', 'idempotency-key': 'k-upload' },
      body: JSON.stringify({ ...body, bytes: 1001 }),
    });
    expectEnvelope(conflicting, 409, { code: 'idempotency_key_reused' });
    expect(await countRows('uploads', tenant.workspaceId)).toBe(before + 2);
  });

  it('a request without the header is not idempotent: two posts, two batches', async () => {
    const a = await postJson(api.url, '/v1/batches', tenant.key, batchBody());
    const b = await postJson(api.url, '/v1/batches', tenant.key, batchBody());
    expect(a.body.id).not.toBe(b.body.id);
  });
});
