import { describe, expect, it } from 'vitest';
import { StorageUnavailableError } from '../storage/file-storage';
import { isTransientError } from './transient-error';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isTransientError', () => {
  it('calls an unreachable or full dependency transient', () => {
    expect(isTransientError(withCode('ECONNREFUSED'))).toBe(true);
    expect(isTransientError(withCode('ENOSPC'))).toBe(true);
    expect(isTransientError(withCode('EROFS'))).toBe(true);
    expect(isTransientError(withCode('57P01', 'terminating connection due to administrator command'))).toBe(true);
    expect(isTransientError(withCode('08006'))).toBe(true);
    expect(isTransientError(new Error('Connection terminated unexpectedly'))).toBe(true);
    // TypeORM wraps the driver's error.
    expect(isTransientError(Object.assign(new Error('query failed'), { driverError: withCode('53300') }))).toBe(true);
    // The object store answering 5xx, 429 or 403 (its driver wraps the SDK's error).
    expect(isTransientError(new StorageUnavailableError('Object store answered 503', new Error('SlowDown')))).toBe(
      true,
    );
  });

  it('calls a wrong statement or a bug permanent', () => {
    expect(isTransientError(withCode('42601', 'syntax error at or near "SELEC"'))).toBe(false);
    expect(isTransientError(withCode('23505', 'duplicate key value'))).toBe(false);
    expect(isTransientError(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
    expect(isTransientError(undefined)).toBe(false);
  });
});
