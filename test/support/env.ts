/** Where the e2e suite finds PostgreSQL and Redis; override with TEST_DATABASE_URL / TEST_REDIS_HOST. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/venna_test';
export const TEST_REDIS_HOST = process.env.TEST_REDIS_HOST ?? '127.0.0.1:6379';
/** A Redis db index of its own, so the suite never touches db 0 (TEST_REDIS_DB lets two runs share a server). */
export const TEST_REDIS_DB = Number(process.env.TEST_REDIS_DB ?? 11);
export const TEST_REDIS_URL = `redis://${TEST_REDIS_HOST}/${TEST_REDIS_DB}`;
/** A second db of the suite's own, for a test that checks REDIS_URL's db index is honoured. */
export const TEST_REDIS_SPARE_DB = (TEST_REDIS_DB + 1) % 16;
export const ADMIN_KEY = 'test-admin-key-0123456789';
/** The storage driver the e2e suite runs against: `local` (the `e2e` project) or `s3` (the `e2e-s3` project). */
export const TEST_STORAGE_DRIVER: 'local' | 's3' = process.env.TEST_STORAGE_DRIVER === 's3' ? 's3' : 'local';
