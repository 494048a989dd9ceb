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
    expect(env.DATABASE_POOL_SIZE).toBe(10);
    expect(problemsOf({ ...valid, DATABASE_POOL_SIZE: '0' })).toEqual([
      'DATABASE_POOL_SIZE must be an integer between 1 and 1000',
    ]);
  });

  it('coalesces reads unless READ_COALESCING is false', () => {
    expect(validateEnvironment(CoreEnvironment, valid).READ_COALESCING).toBe(true);
    expect(validateEnvironment(CoreEnvironment, { ...valid, READ_COALESCING: 'false' }).READ_COALESCING).toBe(false);
    expect(problemsOf({ ...valid, READ_COALESCING: 'no' })).toEqual(['READ_COALESCING must be true or false']);
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

  it('needs STORAGE_DIR only for the local driver, and a bucket for S3', () => {
    const withoutDir = { DATABASE_URL: valid.DATABASE_URL, REDIS_URL: valid.REDIS_URL };
    expect(problemsOf(withoutDir)).toEqual([
      'STORAGE_DIR must be the path of the local file storage root (required with STORAGE_DRIVER=local)',
    ]);
    const s3 = validateEnvironment(CoreEnvironment, { ...withoutDir, STORAGE_DRIVER: 's3', S3_BUCKET: 'venna-files' });
    expect(s3).toMatchObject({ STORAGE_DRIVER: 's3', S3_BUCKET: 'venna-files', S3_REGION: 'us-east-1' });
    expect(s3.S3_FORCE_PATH_STYLE).toBe(false);
    expect(problemsOf({ ...withoutDir, STORAGE_DRIVER: 's3' }).join('\n')).toMatch(
      /S3_BUCKET .*required with STORAGE_DRIVER=s3/,
    );
    expect(problemsOf({ ...valid, STORAGE_DRIVER: 'gcs' })).toEqual(['STORAGE_DRIVER must be one of local, s3']);
  });

  it('names malformed S3 settings and half of a key pair', () => {
    const s3 = { ...valid, STORAGE_DRIVER: 's3', S3_BUCKET: 'venna-files' };
    expect(validateEnvironment(CoreEnvironment, { ...s3, S3_FORCE_PATH_STYLE: 'true' }).S3_FORCE_PATH_STYLE).toBe(true);
    const problems = problemsOf({
      ...s3,
      S3_BUCKET: 'Not_A_Bucket',
      S3_ENDPOINT: 'minio:9000',
      S3_FORCE_PATH_STYLE: 'yes',
      S3_PREFIX: '/leading/slash/',
      S3_ACCESS_KEY_ID: 'AKIA0123',
    });
    expect(problems).toHaveLength(5);
    for (const name of ['S3_BUCKET', 'S3_ENDPOINT', 'S3_FORCE_PATH_STYLE', 'S3_PREFIX', 'S3_SECRET_ACCESS_KEY']) {
      expect(problems.join('\n')).toContain(name);
    }
  });

  it('keeps webhooks to public addresses unless WEBHOOK_ALLOW_PRIVATE_URLS is true', () => {
    expect(validateEnvironment(CoreEnvironment, valid).WEBHOOK_ALLOW_PRIVATE_URLS).toBe(false);
    const allowed = validateEnvironment(CoreEnvironment, { ...valid, WEBHOOK_ALLOW_PRIVATE_URLS: 'true' });
    expect(allowed.WEBHOOK_ALLOW_PRIVATE_URLS).toBe(true);
    expect(problemsOf({ ...valid, WEBHOOK_ALLOW_PRIVATE_URLS: '1' })).toEqual([
      'WEBHOOK_ALLOW_PRIVATE_URLS must be true or false',
    ]);
  });
});
