import { describe, expect, it } from 'vitest';
import { EnvValidationError, validateEnvironment } from '@app/core';
import { ApiEnvironment } from './api-environment';

const s3 = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/venna',
  REDIS_URL: 'redis://127.0.0.1:6379/3',
  STORAGE_DRIVER: 's3',
  S3_BUCKET: 'venna-files',
};

const joinsInPlace = (source: Record<string, string>) =>
  validateEnvironment(ApiEnvironment, { ...s3, ...source }).joinsUploadsInPlace;

describe('S3_JOIN_IN_PLACE', () => {
  it('is on by default for stores that take parts of different sizes, off for Cloudflare R2', () => {
    expect(joinsInPlace({})).toBe(true);
    expect(joinsInPlace({ S3_ENDPOINT: 'http://minio:9000' })).toBe(true);
    expect(joinsInPlace({ S3_ENDPOINT: 'https://0123abcd.r2.cloudflarestorage.com' })).toBe(false);
    expect(joinsInPlace({ S3_ENDPOINT: 'https://0123abcd.eu.R2.cloudflarestorage.com/' })).toBe(false);
    expect(joinsInPlace({ S3_ENDPOINT: 'https://r2.cloudflarestorage.com.example.org' })).toBe(true);
  });

  it('takes an explicit true or false over the default, and refuses anything else', () => {
    expect(joinsInPlace({ S3_JOIN_IN_PLACE: 'false' })).toBe(false);
    expect(joinsInPlace({ S3_ENDPOINT: 'https://a.r2.cloudflarestorage.com', S3_JOIN_IN_PLACE: 'true' })).toBe(true);
    expect(() => joinsInPlace({ S3_JOIN_IN_PLACE: 'yes' })).toThrow(EnvValidationError);
  });
});

describe('TRUST_PROXY', () => {
  const trustProxy = (source: Record<string, string>) =>
    validateEnvironment(ApiEnvironment, { ...s3, ...source }).trustProxy;

  it('trusts no proxy unless set, and takes hops, names, addresses and subnets as Express does', () => {
    expect(trustProxy({})).toBe(false);
    expect(trustProxy({ TRUST_PROXY: '1' })).toBe(1);
    expect(trustProxy({ TRUST_PROXY: 'true' })).toBe(true);
    expect(trustProxy({ TRUST_PROXY: 'loopback, 10.0.0.0/8, fd00::/8' })).toBe('loopback, 10.0.0.0/8, fd00::/8');
    expect(() => trustProxy({ TRUST_PROXY: 'loopback 10.0.0.1' })).toThrow(EnvValidationError);
  });
});
