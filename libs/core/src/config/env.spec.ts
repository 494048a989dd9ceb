import { describe, expect, it } from 'vitest';
import { CoreEnvironment, EnvValidationError, validateEnvironment } from './env';

const valid = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/venna',
  REDIS_URL: 'redis://127.0.0.1:6379/3',
  STORAGE_DIR: '/tmp/venna',
};

function problemsOf(source: Record<string, string | undefined>): string[] {
  try {
    validateEnvironment(CoreEnvironment, source);
    return [];
  } catch (error) {
    return (error as EnvValidationError).problems;
  }
}

describe('validateEnvironment', () => {
  it('applies defaults and converts numbers', () => {
    const env = validateEnvironment(CoreEnvironment, { ...valid, BATCH_MAX_REQUESTS: '10' });
    expect(env.BATCH_MAX_REQUESTS).toBe(10);
    expect(env.BATCH_MAX_FILE_BYTES).toBe(200 * 1024 * 1024);
    expect(env.LOG_LEVEL).toBe('info');
  });

  it('names each missing or malformed variable once', () => {
    const problems = problemsOf({ REDIS_URL: 'http://nope', STORAGE_DIR: '/x', BATCH_MAX_REQUESTS: 'ten' });
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/DATABASE_URL/);
    expect(problems.join('\n')).toMatch(/REDIS_URL/);
    expect(problems.join('\n')).toMatch(/BATCH_MAX_REQUESTS/);
  });

  it('treats empty strings as unset', () => {
    expect(problemsOf({ ...valid, DATABASE_URL: '' })).toEqual([
      'DATABASE_URL must be a postgres://user@host:port/db URL',
    ]);
  });
});
