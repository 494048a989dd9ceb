import { Queue } from 'bullmq';
import type OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, expectEnvelope, flushTestRedis, newTenant, raw, type Tenant } from '../support/clients';
import { ADMIN_KEY, TEST_REDIS_URL } from '../support/env';
import { batchLines, createBatch, numbered, startStub, type StubHandle, waitForBatch } from '../support/batches';
import { type ApiHandle, type AppProcess, freePort, startApi, startWorker } from '../support/processes';
import { type ReceivedWebhook, WebhookReceiver } from '../support/webhook-receiver';

const CHAT = '/v1/chat/completions';
const ALL_EVENTS = ['batch.completed', 'batch.failed', 'batch.expired', 'batch.cancelled'];
/** The test receivers listen on the loopback interface, which webhooks may reach only when this allows it. */
const ALLOW_PRIVATE = { WEBHOOK_ALLOW_PRIVATE_URLS: 'true' };
/** Short retries for the tests (the default starts at 5 s and spans hours). */
const WORKER_ENV = { ...ALLOW_PRIVATE, WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_TIMEOUT_MS: '1500' };

type Event = 'completed' | 'failed' | 'expired' | 'cancelled';

async function subscribe(
  apiUrl: string,
  tenant: Tenant,
  receiver: WebhookReceiver,
  events?: string[],
): Promise<{ id: string; secret: string }> {
  const created = await adminRequest<{ id: string; secret: string }>(
    apiUrl,
    'POST',
    `/admin/workspaces/${tenant.workspaceId}/webhooks`,
    events ? { url: receiver.url, events } : { url: receiver.url },
  );
  receiver.secret = created.secret;
  return created;
}

const deliveriesOf = async (apiUrl: string, webhookId: string): Promise<any[]> =>
  (await adminRequest<{ data: any[] }>(apiUrl, 'GET', `/admin/webhooks/${webhookId}/deliveries`)).data;

/** The body OpenAI sends for batch events (WebhookBatchCompleted and its siblings), correctly signed. */
function expectBatchEvent(received: ReceivedWebhook, batch: OpenAI.Batches.Batch, event: Event): void {
  expect(received.verified).toBe(true);
  expect(received.json).toEqual({
    id: expect.stringMatching(/^evt_[0-9A-Za-z]{24}$/),
    object: 'event',
    type: `batch.${event}`,
    created_at: batch[`${event}_at`],
    data: { id: batch.id },
  });
  expect(received.headers['webhook-id']).toBe(received.json.id);
  expect(received.headers['content-type']).toBe('application/json');
  expect(Math.abs(Number(received.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
}

describe('Webhooks: admin API', () => {
  let api: ApiHandle;
  let tenant: Tenant;

  beforeAll(async () => {
    api = await startApi();
    tenant = await newTenant(api.url);
  });
  afterAll(async () => {
    await api?.stop();
  });

  const post = (path: string, body: unknown, key: string | null = ADMIN_KEY) =>
    raw(api.url, path, {
      method: 'POST',
      key,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('answers 401 on every webhook endpoint without the admin key, or with a workspace key', async () => {
    const calls: [string, string][] = [
      ['POST', `/admin/workspaces/${tenant.workspaceId}/webhooks`],
      ['GET', `/admin/workspaces/${tenant.workspaceId}/webhooks`],
      ['DELETE', '/admin/webhooks/wh_x'],
      ['GET', '/admin/webhooks/wh_x/deliveries'],
      ['POST', '/admin/webhook-deliveries/whdel_x/replay'],
    ];
    for (const [method, path] of calls) {
      for (const key of [null, tenant.key]) {
        const init = { method, key, headers: { 'content-type': 'application/json' } };
        const body = method === 'POST' ? JSON.stringify({ url: 'https://example.com/h' }) : undefined;
        expectEnvelope(await raw(api.url, path, { ...init, body }), 401);
      }
    }
    const list = await adminRequest<{ data: unknown[] }>(
      api.url,
      'GET',
      `/admin/workspaces/${tenant.workspaceId}/webhooks`,
    );
    expect(list.data).toEqual([]);
  });

  it('checks what it is given: an http(s) url, events from the four, a workspace that exists', async () => {
    const path = `/admin/workspaces/${tenant.workspaceId}/webhooks`;
    const url = 'https://example.com/hooks';
    expectEnvelope(await post(path, {}), 400, { param: 'url' });
    expectEnvelope(await post(path, { url: 'ftp://example.com/hooks' }), 400, { param: 'url', message: /http/ });
    expectEnvelope(await post(path, { url: 'javascript:alert(1)' }), 400, { param: 'url' });
    expectEnvelope(await post(path, { url: 'not a url' }), 400, { param: 'url' });
    expectEnvelope(await post(path, { url: 42 }), 400, { param: 'url' });
    expectEnvelope(await post(path, { url, events: ['batch.done'] }), 400, {
      param: 'events',
      message: /batch\.failed/,
    });
    expectEnvelope(await post(path, { url, events: [] }), 400, { param: 'events' });
    expectEnvelope(await post(path, { url, events: 'batch.failed' }), 400, { param: 'events' });
    expectEnvelope(await post(path, { url, events: ['batch.failed', 'batch.failed'] }), 400, { param: 'events' });
    expectEnvelope(await post('/admin/workspaces/ws_nope/webhooks', { url }), 404, { param: 'id' });
    expectEnvelope(await raw(api.url, '/admin/workspaces/ws_nope/webhooks', { key: ADMIN_KEY }), 404);
    expectEnvelope(await raw(api.url, '/admin/webhooks/wh_nope', { method: 'DELETE', key: ADMIN_KEY }), 404);
    expectEnvelope(await raw(api.url, '/admin/webhooks/wh_nope/deliveries', { key: ADMIN_KEY }), 404);
    expectEnvelope(await post('/admin/webhook-deliveries/whdel_nope/replay', {}), 404);
    const list = await adminRequest<{ data: unknown[] }>(api.url, 'GET', path);
    expect(list.data).toEqual([]);
  });

  it('refuses a url whose host is or resolves to a loopback, private, link-local … address', async () => {
    const path = `/admin/workspaces/${tenant.workspaceId}/webhooks`;
    const refused: [string, RegExp][] = [
      ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a link-local address/],
      ['http://10.0.0.1/hooks', /10\.0\.0\.1 is a private address/],
      ['http://[::1]/hooks', /::1 is a loopback address/],
      ['http://localhost/hooks', /localhost resolves to (127\.0\.0\.1|::1), a loopback address/],
      ['https://127.0.0.1:8443/hooks', /127\.0\.0\.1 is a loopback address/],
      ['http://[::ffff:127.0.0.1]/hooks', /::ffff:7f00:1 is a loopback address/],
      ['http://[64:ff9b::a00:1]/hooks', /64:ff9b::a00:1 is a private address/],
      ['http://[fd00::1]/hooks', /fd00::1 is a private address/],
      ['http://100.64.0.1/hooks', /carrier-grade NAT/],
      ['http://0.0.0.0/hooks', /unspecified/],
    ];
    for (const [url, message] of refused) {
      const answer = await post(path, { url });
      expectEnvelope(answer, 400, { param: 'url', type: 'invalid_request_error', message });
      expect(answer.body.error.message).toMatch(/^url must reach a public address: .*WEBHOOK_ALLOW_PRIVATE_URLS/);
    }
    const list = await adminRequest<{ data: unknown[] }>(api.url, 'GET', path);
    expect(list.data).toEqual([]);
  });

  it('shows the secret once, at creation: never in the list; subscribes to all four events by default', async () => {
    const own = await newTenant(api.url);
    const path = `/admin/workspaces/${own.workspaceId}/webhooks`;
    const created = await post(path, { url: 'https://example.com/all' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^wh_/),
      object: 'webhook',
      workspace_id: own.workspaceId,
      url: 'https://example.com/all',
      events: ALL_EVENTS,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]+=*$/),
      created_at: expect.any(Number),
    });
    expect(Buffer.from(created.body.secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    const onlyFailed = await post(path, { url: 'https://example.com/failed', events: ['batch.failed'] });
    expect(onlyFailed.body.events).toEqual(['batch.failed']);

    const list = await raw(api.url, path, { key: ADMIN_KEY });
    expect(list.body.data.map((hook: any) => hook.id)).toEqual([created.body.id, onlyFailed.body.id]);
    expect(list.body.data.every((hook: any) => !('secret' in hook))).toBe(true);
    expect(JSON.stringify(list.body)).not.toContain(created.body.secret.slice('whsec_'.length));

    const deleted = await raw(api.url, `/admin/webhooks/${created.body.id}`, { method: 'DELETE', key: ADMIN_KEY });
    expect(deleted.body).toEqual({ id: created.body.id, object: 'webhook', deleted: true });
    const after = await raw(api.url, path, { key: ADMIN_KEY });
    expect(after.body.data.map((hook: any) => hook.id)).toEqual([onlyFailed.body.id]);
    expectEnvelope(await raw(api.url, `/admin/webhooks/${created.body.id}`, { method: 'DELETE', key: ADMIN_KEY }), 404);
  });
});

describe('Webhooks: delivery of batch events', () => {
  let stub: StubHandle;
  let api: ApiHandle;
  let worker: AppProcess | undefined;
  const receivers: WebhookReceiver[] = [];

  const receiver = async () => {
    const started = await WebhookReceiver.start();
    receivers.push(started);
    return started;
  };

  beforeAll(async () => {
    await flushTestRedis();
    stub = await startStub();
    api = await startApi(ALLOW_PRIVATE);
    // The default sweep interval (60 s): every delivery here goes out right after its commit, not from the sweeper.
    worker = await startWorker(stub.url, api.storageDir, WORKER_ENV);
  });
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });
  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await stub?.close();
  });

  it('a completed batch: exactly one batch.completed, OpenAI’s body, signed; filters and workspaces respected; replay', async () => {
    const a = await newTenant(api.url);
    const b = await newTenant(api.url);
    const [toA, toAFailedOnly, toB] = [await receiver(), await receiver(), await receiver()];
    const hookA = await subscribe(api.url, a, toA);
    const hookAFailedOnly = await subscribe(api.url, a, toAFailedOnly, ['batch.failed']);
    const hookB = await subscribe(api.url, b, toB);

    const createdA = await createBatch(a.client, CHAT, batchLines(CHAT, 'stub-hooks', numbered(3)));
    const createdB = await createBatch(b.client, CHAT, batchLines(CHAT, 'stub-hooks', numbered(2)));
    const batchA = await waitForBatch(a.client, createdA.id);
    const batchB = await waitForBatch(b.client, createdB.id);
    expect([batchA.status, batchB.status]).toEqual(['completed', 'completed']);

    await expect
      .poll(() => deliveriesOf(api.url, hookA.id), { timeout: 10_000 })
      .toEqual([expect.objectContaining({ delivered: true })]);
    await expect
      .poll(() => deliveriesOf(api.url, hookB.id), { timeout: 10_000 })
      .toEqual([expect.objectContaining({ delivered: true })]);
    expect(toA.received).toHaveLength(1);
    expectBatchEvent(toA.received[0], batchA, 'completed');
    expect(toB.received).toHaveLength(1);
    expectBatchEvent(toB.received[0], batchB, 'completed');
    // The official SDK's own verifier takes it as a batch.completed event.
    const unwrapped = await a.client.webhooks.unwrap(toA.received[0].body, toA.received[0].headers, toA.secret);
    expect(unwrapped).toMatchObject({ type: 'batch.completed', data: { id: batchA.id } });
    // Subscribed to batch.failed only: no delivery was even written.
    expect(await deliveriesOf(api.url, hookAFailedOnly.id)).toEqual([]);
    expect(toAFailedOnly.received).toHaveLength(0);

    const [delivery] = await deliveriesOf(api.url, hookA.id);
    expect(delivery).toEqual({
      id: expect.stringMatching(/^whdel_/),
      object: 'webhook.delivery',
      webhook_id: hookA.id,
      event_id: toA.received[0].json.id,
      event_type: 'batch.completed',
      batch_id: batchA.id,
      attempts: 1,
      last_status: 200,
      last_error: null,
      delivered: true,
      created_at: expect.any(Number),
      last_attempt_at: expect.any(Number),
      delivered_at: expect.any(Number),
      gave_up_at: null,
    });

    const replay = await raw(api.url, `/admin/webhook-deliveries/${delivery.id}/replay`, {
      method: 'POST',
      key: ADMIN_KEY,
    });
    expect(replay.status).toBe(201);
    expect(replay.body).toMatchObject({ event_id: delivery.event_id, webhook_id: hookA.id, attempts: 0 });
    expect(replay.body.id).not.toBe(delivery.id);
    await expect.poll(() => toA.received.length, { timeout: 10_000 }).toBe(2);
    expectBatchEvent(toA.received[1], batchA, 'completed');
    expect(toA.received[1].json.id).toBe(toA.received[0].json.id);
    await expect
      .poll(() => deliveriesOf(api.url, hookA.id), { timeout: 10_000 })
      .toEqual([
        expect.objectContaining({ id: replay.body.id, attempts: 1, last_status: 200, delivered: true }),
        expect.objectContaining({ id: delivery.id, delivered: true }),
      ]);
    expect(toB.received).toHaveLength(1);
  });

  it('a batch that fails validation: batch.failed', async () => {
    const tenant = await newTenant(api.url);
    const hooks = await receiver();
    await subscribe(api.url, tenant, hooks, ['batch.failed', 'batch.completed']);
    const line = JSON.stringify({
      custom_id: 'a',
      method: 'POST',
      url: '/v1/embeddings',
      body: { model: 'm', input: 'x' },
    });
    const created = await createBatch(tenant.client, CHAT, `${line}\n`);
    const batch = await waitForBatch(tenant.client, created.id);
    expect(batch.status).toBe('failed');
    await expect.poll(() => hooks.received.length, { timeout: 10_000 }).toBe(1);
    expectBatchEvent(hooks.received[0], batch, 'failed');
  });

  it('a cancelled batch: batch.cancelled', async () => {
    const tenant = await newTenant(api.url);
    const hooks = await receiver();
    await subscribe(api.url, tenant, hooks);
    const created = await createBatch(
      tenant.client,
      CHAT,
      batchLines(
        CHAT,
        'stub-slow',
        numbered(40, (i) => `slow ${i} [stub:delay=1000]`),
      ),
    );
    await waitForBatch(tenant.client, created.id, (b) => b.status === 'in_progress');
    await tenant.client.batches.cancel(created.id);
    const batch = await waitForBatch(tenant.client, created.id);
    expect(batch.status).toBe('cancelled');
    await expect.poll(() => hooks.received.length, { timeout: 10_000 }).toBe(1);
    expectBatchEvent(hooks.received[0], batch, 'cancelled');
  });

  it('retries what is not a 2xx: 500, 500, then 200 is delivered on attempt 3, the waits growing', async () => {
    const tenant = await newTenant(api.url);
    const hooks = await receiver();
    const hook = await subscribe(api.url, tenant, hooks);
    hooks.answerNext(500, 500);
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-hooks', numbered(1)));
    const batch = await waitForBatch(tenant.client, created.id);
    await expect
      .poll(() => deliveriesOf(api.url, hook.id), { timeout: 15_000 })
      .toEqual([expect.objectContaining({ attempts: 3, last_status: 200, last_error: null, delivered: true })]);
    expect(hooks.received).toHaveLength(3);
    for (const received of hooks.received) {
      expectBatchEvent(received, batch, 'completed');
      expect(received.json.id).toBe(hooks.received[0].json.id);
    }
    const [first, second, third] = hooks.received.map((r) => r.at);
    expect(second - first).toBeGreaterThanOrEqual(200);
    expect(third - second).toBeGreaterThanOrEqual(400);
  });

  it('a receiver that hangs past the timeout, or redirects, has not acknowledged: retried until a 2xx', async () => {
    const tenant = await newTenant(api.url);
    const hooks = await receiver();
    const elsewhere = await receiver();
    const hook = await subscribe(api.url, tenant, hooks);
    hooks.answerNext('hang', { redirectTo: elsewhere.url });
    await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-hooks', numbered(1)));
    await expect
      .poll(() => deliveriesOf(api.url, hook.id), { timeout: 15_000 })
      .toEqual([expect.objectContaining({ attempts: 3, last_status: 200, delivered: true })]);
    expect(hooks.received).toHaveLength(3);
    expect(elsewhere.received).toHaveLength(0);
  });

  it('a receiver that is down, then up: the event is delivered once it is up', async () => {
    const tenant = await newTenant(api.url);
    const hooks = WebhookReceiver.down(await freePort());
    receivers.push(hooks);
    const hook = await subscribe(api.url, tenant, hooks);
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-hooks', numbered(1)));
    const batch = await waitForBatch(tenant.client, created.id);
    await expect
      .poll(async () => (await deliveriesOf(api.url, hook.id))[0]?.attempts ?? 0, { timeout: 10_000 })
      .toBeGreaterThanOrEqual(2);
    const [failing] = await deliveriesOf(api.url, hook.id);
    expect(failing).toMatchObject({ delivered: false, last_status: null, gave_up_at: null });
    expect(failing.last_error).toMatch(/ECONNREFUSED/);

    await hooks.listen();
    await expect
      .poll(() => deliveriesOf(api.url, hook.id), { timeout: 20_000 })
      .toEqual([expect.objectContaining({ last_status: 200, last_error: null, delivered: true })]);
    expect(hooks.received).toHaveLength(1);
    expectBatchEvent(hooks.received[0], batch, 'completed');
  });

  it('an expired batch: batch.expired', async () => {
    const shortWindows = await startApi({ ...ALLOW_PRIVATE, BATCH_WINDOW_OVERRIDE_SECONDS: '3' }, api.storageDir);
    try {
      const tenant = await newTenant(shortWindows.url);
      const hooks = await receiver();
      await subscribe(shortWindows.url, tenant, hooks);
      const created = await createBatch(
        tenant.client,
        CHAT,
        batchLines(
          CHAT,
          'stub-slow',
          numbered(80, (i) => `late ${i} [stub:delay=1000]`),
        ),
      );
      const batch = await waitForBatch(tenant.client, created.id);
      expect(batch.status).toBe('expired');
      await expect.poll(() => hooks.received.length, { timeout: 10_000 }).toBe(1);
      expectBatchEvent(hooks.received[0], batch, 'expired');
    } finally {
      await shortWindows.stop();
    }
  });

  it('gives up after 12 attempts and says so; a replay then delivers the same event', async () => {
    // Waits of 1, 2, 4 … 720 ms: the whole chain in seconds.
    await worker?.stop();
    worker = await startWorker(stub.url, api.storageDir, { ...WORKER_ENV, WEBHOOK_RETRY_BASE_MS: '1' });
    const tenant = await newTenant(api.url);
    const hooks = await receiver();
    const hook = await subscribe(api.url, tenant, hooks);
    hooks.answerNext(...Array<number>(12).fill(503));
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-hooks', numbered(1)));
    const batch = await waitForBatch(tenant.client, created.id);
    await expect
      .poll(() => deliveriesOf(api.url, hook.id), { timeout: 20_000 })
      .toEqual([
        expect.objectContaining({ attempts: 12, last_status: 503, delivered: false, gave_up_at: expect.any(Number) }),
      ]);
    expect(hooks.received).toHaveLength(12);

    const [gaveUp] = await deliveriesOf(api.url, hook.id);
    await adminRequest(api.url, 'POST', `/admin/webhook-deliveries/${gaveUp.id}/replay`);
    await expect.poll(() => hooks.received.length, { timeout: 10_000 }).toBe(13);
    expectBatchEvent(hooks.received[12], batch, 'completed');
    expect(hooks.received[12].json.id).toBe(gaveUp.event_id);
    await expect
      .poll(() => deliveriesOf(api.url, hook.id), { timeout: 10_000 })
      .toEqual([
        expect.objectContaining({ attempts: 1, last_status: 200, delivered: true, gave_up_at: null }),
        expect.objectContaining({ id: gaveUp.id, attempts: 12, delivered: false }),
      ]);
  });

  it('a worker SIGKILLed after the batch ended, before the receiver answered, and the job lost: another worker delivers it', async () => {
    await worker?.stop();
    worker = undefined;
    const tenant = await newTenant(api.url);
    const hooks = await receiver();
    const hook = await subscribe(api.url, tenant, hooks);
    hooks.answerNext('hang');
    const doomed = await startWorker(stub.url, api.storageDir, { ...WORKER_ENV, WEBHOOK_TIMEOUT_MS: '60000' });
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-hooks', numbered(2)));
    const batch = await waitForBatch(tenant.client, created.id);
    await expect.poll(() => hooks.received.length, { timeout: 10_000 }).toBe(1);
    await doomed.stop('SIGKILL');
    // Redis loses the job too (as after a crash between the commit and the enqueue): only the outbox row is left.
    const url = new URL(TEST_REDIS_URL);
    const queue = new Queue('webhook-deliveries', {
      prefix: 'venna',
      connection: { host: url.hostname, port: Number(url.port), db: Number(url.pathname.slice(1)) },
    });
    try {
      await queue.obliterate({ force: true });
      expect(await queue.getJobCounts()).toMatchObject({ active: 0, waiting: 0, delayed: 0 });
    } finally {
      await queue.close();
    }
    expect(await deliveriesOf(api.url, hook.id)).toEqual([expect.objectContaining({ delivered: false })]);

    worker = await startWorker(stub.url, api.storageDir, { ...WORKER_ENV, BATCH_SWEEP_INTERVAL_MS: '1000' });
    await expect
      .poll(() => deliveriesOf(api.url, hook.id), { timeout: 20_000 })
      .toEqual([expect.objectContaining({ last_status: 200, delivered: true })]);
    expect(hooks.received).toHaveLength(2);
    for (const received of hooks.received) {
      expectBatchEvent(received, batch, 'completed');
    }
    expect(hooks.received[1].json.id).toBe(hooks.received[0].json.id);
  });
});

describe('Webhooks: a worker that does not allow private addresses', () => {
  let stub: StubHandle;
  let api: ApiHandle;
  let worker: AppProcess;
  let hooks: WebhookReceiver;

  beforeAll(async () => {
    await flushTestRedis();
    stub = await startStub();
    // The api takes loopback URLs (as if it had been told to, or the name resolved elsewhere when it checked) …
    api = await startApi(ALLOW_PRIVATE);
    // … and the worker, with the default, checks them again when it sends.
    worker = await startWorker(stub.url, api.storageDir, { WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_TIMEOUT_MS: '1500' });
    hooks = await WebhookReceiver.start();
  });
  afterAll(async () => {
    await hooks?.close();
    await worker?.stop();
    await api?.stop();
    await stub?.close();
  });

  it('refuses to send to a loopback address, by IP or by name: no request, the reason in last_error', async () => {
    const tenant = await newTenant(api.url);
    const byAddress = await subscribe(api.url, tenant, hooks);
    const byName = await adminRequest<{ id: string }>(
      api.url,
      'POST',
      `/admin/workspaces/${tenant.workspaceId}/webhooks`,
      {
        url: `http://localhost:${hooks.port}/hooks/venna`,
      },
    );
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-hooks', numbered(1)));
    expect((await waitForBatch(tenant.client, created.id)).status).toBe('completed');

    const retried = { attempts: expect.toSatisfy((n: number) => n >= 2), delivered: false, last_status: null };
    await expect
      .poll(() => deliveriesOf(api.url, byAddress.id), { timeout: 15_000 })
      .toEqual([
        expect.objectContaining({
          ...retried,
          last_error: 'refused: 127.0.0.1 is a loopback address (WEBHOOK_ALLOW_PRIVATE_URLS is off)',
        }),
      ]);
    await expect
      .poll(() => deliveriesOf(api.url, byName.id), { timeout: 15_000 })
      .toEqual([
        expect.objectContaining({
          ...retried,
          last_error: expect.stringMatching(
            /^refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address \(WEBHOOK_ALLOW_PRIVATE_URLS is off\)$/,
          ),
        }),
      ]);
    expect(hooks.received).toEqual([]);
    expect(worker.output).toMatch(
      /did not acknowledge batch\.completed .*\(refused: 127\.0\.0\.1 is a loopback address/,
    );
  });
});
