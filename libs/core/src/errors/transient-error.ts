import { StorageUnavailableError } from '../storage/file-storage';

/** Node errno codes of a dependency that is away or full, not of a bug. */
const TRANSIENT_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EIO',
  'EMFILE',
  'ENFILE',
  'EAGAIN',
  'EBUSY',
  'EACCES',
  'EPERM',
]);

/** PostgreSQL SQLSTATE classes: connection exception, insufficient resources, operator intervention, system error, rollback. */
const TRANSIENT_SQLSTATE_CLASSES = new Set(['08', '53', '57', '58', '40']);

/** Driver messages that carry no code but mean the connection, not the statement, failed. */
const TRANSIENT_MESSAGE =
  /Connection terminated|connection (is )?closed|not queryable|timeout exceeded when trying to connect|Stream isn't writeable|Reached the max retries|Connection is closed/i;

/** Whether an error says "a dependency is unreachable or out of space" (wait and retry) rather than "this is wrong". */
export function isTransientError(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 4; depth++) {
    const candidate = current as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
    if (current instanceof StorageUnavailableError) {
      return true;
    }
    const code = typeof candidate.code === 'string' ? candidate.code : '';
    if (TRANSIENT_ERRNO.has(code) || (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_SQLSTATE_CLASSES.has(code.slice(0, 2)))) {
      return true;
    }
    if (typeof candidate.message === 'string' && TRANSIENT_MESSAGE.test(candidate.message)) {
      return true;
    }
    current = candidate.driverError ?? candidate.cause;
  }
  return false;
}
