import { watch } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allResults,
  batchLines,
  createBatch,
  numbered,
  type RequestSpec,
  startStub,
  type StubHandle,
  waitForBatch,
} from '../support/batches';
import { expectEnvelope, flushTestRedis, newTenant, raw, type Tenant } from '../support/clients';
import { QUEUE_PREFIX, QueueName, redisOptionsFromUrl } from '@app/core';
import { ADMIN_KEY, TEST_REDIS_URL } from '../support/env';
import { startPrivateRedis } from '../support/private-services';
import { type ApiHandle, type AppProcess, freePort, startApi, startWorker } from '../support/processes';
import { pollUntil } from '../support/poll';

const UPSTREAM_KEY = `sk-upstream-${'u'.repeat(32)}`;

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of one metric in Prometheus text format. */
function samples(text: string, name: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => {
      const [, labels = '', value] = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line)!;
      return {
        labels: Object.fromEntries([...labels.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k, v])),
        value: Number(value),
      };
    });
}

const sampleOf = (text: string, name: string, labels: Record<string, string>): number | undefined =>
  samples(text, name).find((sample) => Object.entries(labels).every(([k, v]) => sample.labels[k] === v))?.value;

/** Every line of a process's output as the JSON object it must be (throws on the first line that is not). */
function jsonLines(output: string): Record<string, any>[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, any>;
      } catch {
        throw new Error(`Not a JSON log line: ${line}`);
      }
    });
}

const basic = (password: string) => `Basic ${Buffer.from(`anyone:${password}`).toString('base64')}`;

/** What an operator runs it with: health for the orchestrator, metrics for Prometheus, JSON logs, the queue dashboard. */
describe('Operating it: health, metrics, logs, queue dashboard', () => {
  let api: ApiHandle;
  let stub: StubHandle;
  let tenant: Tenant;

  beforeAll(async () => {
    // Jobs an earlier file left queued would otherwise run on this file's worker.
    await flushTestRedis();
    api = await startApi({ LOG_FORMAT: 'json' });
    stub = await startStub({ apiKey: UPSTREAM_KEY });
    tenant = await newTenant(api.url);
  });
  afterAll(async () => {
    await api?.stop();
    await stub?.close();
  });

  it('answers live and ready (PostgreSQL, Redis, storage), with /health as ready, and keeps them out of the OpenAPI document', async () => {
    expect(await raw(api.url, '/health/live')).toMatchObject({ status: 200, body: { status: 'ok' } });
    for (const path of ['/health/ready', '/health']) {
      const ready = await raw(api.url, path);
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({
        status: 'ok',
        info: { database: { status: 'up' }, redis: { status: 'up' }, storage: { status: 'up' } },
      });
      expect(ready.headers.get('cache-control')).toBe('no-store');
    }
    const doc = (await (await fetch(`${api.url}/docs-json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((path) => /health|metrics|queues/.test(path))).toEqual([]);
  });

  it('answers a flood of readiness probes from one round of checks at a time, never older than a second or two', async () => {
    const probes = join(api.storageDir, 'health');
    expect((await raw(api.url, '/health/ready')).status).toBe(200); // the probe's folder exists from here on
    await new Promise((resolve) => setTimeout(resolve, 2100));
    // Each storage probe writes its object under a temporary name of its own, then renames it into place.
    const written = new Set<string>();
    const watcher = watch(probes, (_event, name) => name?.endsWith('.partial') && written.add(name));
    try {
      const answers = await Promise.all(Array.from({ length: 50 }, () => raw(api.url, '/health/ready')));
      expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(200));
      await new Promise((resolve) => setTimeout(resolve, 200)); // the last events arrive
      expect(written.size).toBeGreaterThanOrEqual(1);
      expect(written.size).toBeLessThanOrEqual(2);

      // A result is reused for a second at most: a probe after that checks again.
      await new Promise((resolve) => setTimeout(resolve, 2100));
      const before = written.size;
      expect((await raw(api.url, '/health/ready')).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(written.size).toBe(before + 1);
    } finally {
      watcher.close();
    }
  });

  it('reports not ready (503, naming Redis) while Redis is away, in the api and the worker; live and /metrics still answer', async () => {
    const redis = await startPrivateRedis();
    const own = await startApi({ REDIS_URL: redis.url });
    const port = await freePort();
    const worker = await startWorker(stub.url, own.storageDir, {
      REDIS_URL: redis.url,
      UPSTREAM_API_KEY: UPSTREAM_KEY,
      WORKER_HTTP_PORT: String(port),
    });
    const workerUrl = `http://127.0.0.1:${port}`;
    try {
      expect((await raw(own.url, '/health/ready')).status).toBe(200);
      expect((await raw(workerUrl, '/health/ready')).status).toBe(200);
      await redis.stop();

      for (const url of [own.url, workerUrl]) {
        const ready = await pollUntil(
          () => raw(url, '/health/ready'),
          (answer) => answer.status !== 200,
          { what: (answer) => `${url} to report Redis down: ${JSON.stringify(answer.body)}`, timeoutMs: 15_000 },
        );
        expect(ready.status).toBe(503);
        // What is down, not why: an error's text (addresses, driver messages) is for the logs.
        expect(ready.body).toEqual({
          status: 'error',
          error: { redis: { status: 'down' } },
          info: { database: { status: 'up' }, storage: { status: 'up' } },
          details: { database: { status: 'up' }, redis: { status: 'down' }, storage: { status: 'up' } },
        });
        expect((await raw(url, '/health/live')).status).toBe(200);
      }
      const scraped = await raw(own.url, '/metrics', { key: ADMIN_KEY });
      expect(scraped.status).toBe(200);
      expect(scraped.body).toContain('http_request_duration_seconds');
      expect(samples(scraped.body as string, 'venna_queue_jobs')).toEqual([]);
      const workerScrape = await raw(workerUrl, '/metrics');
      expect(workerScrape.status).toBe(200);
      expect(workerScrape.body).toContain('venna_upstream_requests_total');
    } finally {
      await worker.stop('SIGKILL');
      await own.stop();
      await redis.stop();
    }
  });

  it('serves /metrics with the admin key only: request durations by route template, queue jobs, process metrics', async () => {
    expectEnvelope(await raw(api.url, '/metrics'), 401, { code: 'invalid_api_key' });
    expectEnvelope(await raw(api.url, '/metrics', { key: 'not-the-admin-key-123456' }), 401);
    expectEnvelope(await raw(api.url, '/metrics', { key: tenant.key }), 401);
    for (const id of ['file-a', 'file-b', 'file-c']) {
      expectEnvelope(await raw(api.url, `/v1/files/${id}`, { key: tenant.key }), 404);
    }
    await tenant.client.files.list();

    const scraped = await raw(api.url, '/metrics', { key: ADMIN_KEY });
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = scraped.body as string;
    const count = (labels: Record<string, string>) => sampleOf(text, 'http_request_duration_seconds_count', labels);
    expect(count({ method: 'GET', route: '/v1/files/:file_id', status_code: '404' })).toBe(3);
    expect(count({ method: 'GET', route: '/v1/files', status_code: '200' })).toBeGreaterThanOrEqual(1);
    expect(count({ method: 'GET', route: '/metrics', status_code: '401' })).toBe(3);
    // Ids never become label values.
    expect(text).not.toMatch(/route="[^"]*file-a/);
    expect(sampleOf(text, 'venna_queue_jobs', { queue: 'batches', state: 'waiting' })).toBe(0);
    expect(sampleOf(text, 'venna_queue_jobs', { queue: 'batch-chunks', state: 'prioritized' })).toBe(0);
    expect(sampleOf(text, 'venna_queue_jobs', { queue: 'webhook-deliveries', state: 'delayed' })).toBe(0);
    // A job the test puts in the queue is counted in the very next scrape.
    const webhooks = new Queue(QueueName.WebhookDeliveries, {
      prefix: QUEUE_PREFIX,
      connection: redisOptionsFromUrl(TEST_REDIS_URL),
    });
    const delayed = await webhooks.add('probe', {}, { delay: 60_000 });
    try {
      const again = (await raw(api.url, '/metrics', { key: ADMIN_KEY })).body as string;
      expect(sampleOf(again, 'venna_queue_jobs', { queue: 'webhook-deliveries', state: 'delayed' })).toBe(1);
    } finally {
      await delayed.remove();
      await webhooks.close();
    }
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(samples(text, name)).not.toEqual([]);
    }
  });

  it('logs one JSON object per line, every line of a request with its x-request-id (given or made), and no key', async () => {
    const given = `ops-${Date.now()}`;
    const listed = await raw(api.url, '/v1/files', { key: tenant.key, headers: { 'x-request-id': given } });
    expect(listed.status).toBe(200);
    expect(listed.headers.get('x-request-id')).toBe(given);
    const made = await raw(api.url, '/v1/files/file-nope', { key: tenant.key });
    const madeId = made.headers.get('x-request-id')!;
    expect(madeId).toMatch(/^req_[0-9a-f]{32}$/);
    // A header that is not a plain token is not trusted into the logs.
    const odd = await raw(api.url, '/v1/files', { key: tenant.key, headers: { 'x-request-id': 'a b"c' } });
    expect(odd.headers.get('x-request-id')).toMatch(/^req_/);
    const wrongKey = `vk_${'W'.repeat(40)}`;
    expect((await raw(api.url, '/v1/files', { key: wrongKey })).status).toBe(401);

    const lines = await pollUntil(
      () => jsonLines(api.process.output),
      (all) => all.some((line) => line.request_id === madeId),
      { what: `a log line with request id ${madeId}`, timeoutMs: 15_000 },
    );
    const access = lines.find((line) => line.request_id === given && line.msg === 'request completed');
    expect(access).toMatchObject({
      level: 'info',
      app: 'api',
      req: { id: given, method: 'GET', url: '/v1/files', headers: { authorization: '[redacted]' } },
      res: { statusCode: 200 },
    });
    expect(lines.find((line) => line.request_id === madeId && line.msg === 'request completed')).toMatchObject({
      level: 'warn',
      req: { id: madeId },
      res: { statusCode: 404 },
    });
    expect(
      lines.some((line) => line.msg === `Listening on port ${new URL(api.url).port} (0.0.0.0); Swagger UI at /docs`),
    ).toBe(true);
    for (const secret of [tenant.key, wrongKey, ADMIN_KEY]) {
      expect(api.process.output).not.toContain(secret);
    }
    expect(api.process.output).not.toMatch(/vk_[0-9A-Za-z]{12}/);
  });

  it('guards the queue dashboard with Basic auth on the admin key, and has none without ADMIN_API_KEY', async () => {
    const refused = await fetch(`${api.url}/admin/queues`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expectEnvelope({ status: refused.status, body: await refused.json() }, 401, { code: 'invalid_api_key' });
    const wrong = await fetch(`${api.url}/admin/queues`, {
      headers: { authorization: basic('wrong-password-123456') },
    });
    expect(wrong.status).toBe(401);
    const bearer = await fetch(`${api.url}/admin/queues`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(bearer.status).toBe(401);

    const page = await fetch(`${api.url}/admin/queues`, { headers: { authorization: basic(ADMIN_KEY) } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('Venna queues');
    const queues = await fetch(`${api.url}/admin/queues/api/queues`, { headers: { authorization: basic(ADMIN_KEY) } });
    expect(queues.status).toBe(200);
    const listed = ((await queues.json()) as { queues: { name: string; readOnlyMode: boolean }[] }).queues;
    expect(listed.map((queue) => [queue.name, queue.readOnlyMode]).sort()).toEqual([
      ['batch-chunks', true],
      ['batches', true],
      ['maintenance', true],
      ['provider-batches', true],
      ['webhook-deliveries', true],
    ]);

    const closed = await startApi({ ADMIN_API_KEY: undefined });
    try {
      for (const path of ['/admin/queues', '/admin/queues/api/queues', '/metrics']) {
        const answer = await fetch(`${closed.url}${path}`, { headers: { authorization: basic(ADMIN_KEY) } });
        expect(answer.status).toBe(404);
      }
      expectEnvelope(await raw(closed.url, '/metrics', { key: ADMIN_KEY }), 404);
    } finally {
      await closed.stop();
    }
  });

  it('runs two workers of one host with the default address and the same port: the second warns and works on', async () => {
    const port = await freePort();
    // WORKER_HTTP_HOST unset: the default, as `npm run start:worker` twice on one machine would have it.
    const sameHost = { WORKER_HTTP_HOST: undefined, WORKER_HTTP_PORT: String(port), UPSTREAM_API_KEY: UPSTREAM_KEY };
    const first = await startWorker(stub.url, api.storageDir, sameHost);
    let second: AppProcess | undefined;
    try {
      second = await startWorker(stub.url, api.storageDir, sameHost);
      expect(first.output).toContain(`health and metrics on http://127.0.0.1:${port}`);
      expect(second.output).toContain(
        `port ${port} on 127.0.0.1 in use: health and metrics off for this process (set WORKER_HTTP_PORT to another port)`,
      );
      expect((await raw(`http://127.0.0.1:${port}`, '/health/live')).status).toBe(200);

      // With the first one gone, the second does the work alone.
      await first.stop();
      const created = await createBatch(
        tenant.client,
        '/v1/chat/completions',
        batchLines('/v1/chat/completions', 'gpt-two-workers', numbered(3)),
      );
      const batch = await waitForBatch(tenant.client, created.id);
      expect(batch.status).toBe('completed');
      expect(second.output).toContain(`Batch ${batch.id} completed`);
      expect(second.running).toBe(true);
    } finally {
      await first.stop();
      await second?.stop();
    }
  });

  it('never logs the credentials of its upstream URL: not at start-up, nor when an attempt fails', async () => {
    const password = 's3cret-pass';
    const withCredentials = new URL(stub.url);
    withCredentials.username = 'user';
    withCredentials.password = password;
    // Debug level: a failed attempt's line names the URL it was sent to.
    const worker = await startWorker(withCredentials.href, api.storageDir, {
      LOG_LEVEL: 'debug',
      UPSTREAM_API_KEY: UPSTREAM_KEY,
    });
    try {
      const requests: RequestSpec[] = [
        ...numbered(2),
        { customId: 'refused', text: 'refused [stub:fail=400]' },
        { customId: 'cut', text: 'cut short once [stub:truncate=1]' },
      ];
      const created = await createBatch(
        tenant.client,
        '/v1/chat/completions',
        batchLines('/v1/chat/completions', 'gpt-credentials', requests),
      );
      const batch = await waitForBatch(tenant.client, created.id);
      expect(batch.request_counts).toEqual({ total: 4, completed: 3, failed: 1 });
      await worker.stop();
      expect(worker.output).toContain(`upstream ${stub.url};`);
      expect(worker.output).toMatch(/Attempt 1 to http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions failed/);
      expect(worker.output).not.toContain(password);
    } finally {
      await worker.stop();
    }
  });

  describe('the worker', () => {
    let worker: AppProcess;
    let workerUrl: string;

    beforeAll(async () => {
      const port = await freePort();
      workerUrl = `http://127.0.0.1:${port}`;
      worker = await startWorker(stub.url, api.storageDir, {
        LOG_FORMAT: 'json',
        UPSTREAM_API_KEY: UPSTREAM_KEY,
        WORKER_HTTP_PORT: String(port),
      });
    });
    afterAll(() => worker?.stop('SIGKILL'));

    it('counts the upstream requests, lines and tokens of a batch, logs its lines with batch and workspace, and drains on SIGTERM', async () => {
      expect(await raw(workerUrl, '/health/live')).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect(await raw(workerUrl, '/health/ready')).toMatchObject({
        status: 200,
        body: { info: { database: { status: 'up' }, redis: { status: 'up' }, storage: { status: 'up' } } },
      });
      expect((await raw(workerUrl, '/nothing')).status).toBe(404);

      // 4 answered (one after two 500s), 1 refused with 400: 7 requests upstream, 4 lines completed, 1 failed.
      const requests: RequestSpec[] = [
        ...numbered(3),
        { customId: 'flaky', text: 'twice broken [stub:flaky=2]' },
        { customId: 'refused', text: 'bad [stub:fail=400]' },
      ];
      const created = await createBatch(
        tenant.client,
        '/v1/chat/completions',
        batchLines('/v1/chat/completions', 'gpt-obs', requests),
      );
      const batch = await waitForBatch(tenant.client, created.id);
      expect(batch.status).toBe('completed');
      expect(batch.request_counts).toEqual({ total: 5, completed: 4, failed: 1 });
      const { output } = await allResults(tenant.client, batch);
      expect(output).toHaveLength(4);

      const text = (await raw(workerUrl, '/metrics')).body as string;
      const upstream = stub.url;
      const calls = (outcome: string) => sampleOf(text, 'venna_upstream_requests_total', { upstream, outcome });
      expect([calls('2xx'), calls('4xx'), calls('5xx'), calls('429')]).toEqual([4, 1, 2, 0]);
      expect(sampleOf(text, 'venna_upstream_request_duration_seconds_count', { upstream })).toBe(7);
      expect(sampleOf(text, 'venna_upstream_in_flight', { upstream })).toBe(0);
      expect(sampleOf(text, 'venna_batch_lines_total', { outcome: 'completed' })).toBe(4);
      expect(sampleOf(text, 'venna_batch_lines_total', { outcome: 'failed' })).toBe(1);
      const tokens = (kind: string) => sampleOf(text, 'venna_tokens_total', { workspace: tenant.workspaceId, kind });
      expect(batch.usage!.input_tokens).toBeGreaterThan(0);
      expect([tokens('input'), tokens('output')]).toEqual([batch.usage!.input_tokens, batch.usage!.output_tokens]);
      // The batch row is completed inside its job, which BullMQ marks completed a moment later.
      await expect
        .poll(async () =>
          sampleOf((await raw(workerUrl, '/metrics')).body as string, 'venna_queue_jobs', {
            queue: 'batches',
            state: 'completed',
          }),
        )
        .toBeGreaterThanOrEqual(1);
      expect(samples(text, 'process_cpu_user_seconds_total')).not.toEqual([]);

      await worker.stop('SIGTERM');
      expect(worker.child.exitCode).toBe(0);
      const lines = jsonLines(worker.output);
      const aboutBatch = lines.filter((line) => typeof line.msg === 'string' && line.msg.includes(batch.id));
      expect(aboutBatch.map((line) => line.msg)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/validated/),
          `Chunk started: ${batch.id}-chunk-0`,
          expect.stringMatching(new RegExp(`^Batch ${batch.id} completed`)),
        ]),
      );
      for (const line of aboutBatch) {
        expect(line).toMatchObject({ app: 'worker', batch_id: batch.id, workspace_id: tenant.workspaceId });
      }
      // No line carries the fields of another batch than the one it is about.
      for (const line of lines.filter((line) => 'batch_id' in line)) {
        const mentioned = /batch_[A-Za-z0-9]+/.exec(String(line.msg))?.[0];
        expect(mentioned === undefined || mentioned === line.batch_id, JSON.stringify(line)).toBe(true);
      }
      expect(
        lines.some((line) => /^Worker started: .*health and metrics on http:\/\/127\.0\.0\.1:/.test(line.msg)),
      ).toBe(true);
      expect(worker.output).not.toContain(UPSTREAM_KEY);
      expect(worker.output).not.toContain(tenant.key);
    });
  });
});
