import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { ResultErrorCode } from '../batch-runner/result-error-code';
import type { WorkerEnvironment } from '../config/worker-environment';
import { WorkerMetrics } from '../monitoring/worker-metrics';
import { UpstreamClient } from './upstream.client';
import type { UpstreamLimiter } from './upstream-limiter';
import { defaultUpstream } from './upstream-routes';

/** A body JSON.stringify cannot write: it overflows the stack long before 100,000 levels. */
function tooDeep(): Record<string, unknown> {
  let value: unknown = 'bottom';
  for (let level = 0; level < 100_000; level++) {
    value = [value];
  }
  return { model: 'm', messages: value };
}

describe('UpstreamClient', () => {
  const env = {
    WORKER_CONCURRENCY: 1,
    UPSTREAM_MAX_ATTEMPTS: 3,
    UPSTREAM_RETRY_BASE_MS: 1,
    UPSTREAM_RETRY_MAX_MS: 1,
    UPSTREAM_TIMEOUT_MS: 1000,
  } as WorkerEnvironment;
  // A line that cannot be written never waits for a slot, nor goes out.
  const limiter = {
    acquire: () => Promise.reject(new Error('a slot was asked for')),
  } as unknown as UpstreamLimiter;
  const client = new UpstreamClient(limiter, env, new WorkerMetrics(new Registry()));
  afterAll(() => client.onModuleDestroy());

  const upstream = (name: string) => ({ ...defaultUpstream(`http://127.0.0.1:9/${name}/v1`), name });
  const stop = new AbortController().signal;

  it('fails a line whose body cannot be serialised at once, with its own code, instead of throwing', async () => {
    const outcome = await client.send(upstream('a'), '/v1/chat/completions', tooDeep(), stop);
    expect(outcome).toEqual({
      kind: 'error',
      code: ResultErrorCode.UnserializableRequest,
      message: expect.stringMatching(/could not be serialised/) as unknown,
      attempts: 0,
    });
  });

  it('hands such a line to no fallback: another upstream could not send it either', async () => {
    const { outcome, at } = await client.sendAlong(
      [upstream('a'), upstream('b')],
      0,
      '/v1/chat/completions',
      tooDeep(),
      stop,
    );
    expect(at).toBe(0);
    expect(outcome).toMatchObject({ kind: 'error', code: ResultErrorCode.UnserializableRequest });
  });
});
