import { describe, expect, it } from 'vitest';
import { validateEnvironment } from '@app/core';
import { WorkerEnvironment } from './worker-environment';

const required = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/venna',
  REDIS_URL: 'redis://127.0.0.1:6379/3',
  STORAGE_DIR: '/tmp/venna',
  UPSTREAM_BASE_URL: 'http://127.0.0.1:4010/v1',
};

describe('WorkerEnvironment', () => {
  it('serves health and metrics on the loopback interface unless told otherwise', () => {
    const env = validateEnvironment(WorkerEnvironment, required);
    expect(env.WORKER_HTTP_HOST).toBe('127.0.0.1');
    expect(env.WORKER_HTTP_PORT).toBe(9464);
    expect(validateEnvironment(WorkerEnvironment, { ...required, WORKER_HTTP_HOST: '0.0.0.0' }).WORKER_HTTP_HOST).toBe(
      '0.0.0.0',
    );
  });
});
