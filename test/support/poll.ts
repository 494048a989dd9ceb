import { setTimeout as sleep } from 'node:timers/promises';

export interface PollOptions<T> {
  /** What is awaited, for the failure; a function gets the last value seen. */
  what: string | ((last: T) => string);
  timeoutMs?: number;
  /** Between two probes: short where a race needs the moment, longer where each probe is a request. */
  intervalMs?: number;
}

/**
 * Calls `probe` until `done` holds for what it returns, and returns that value. Waiting for state the tests cannot
 * be told about (a row, a status, a line of output); never a blind sleep. A probe that throws ends the wait at
 * once, so a probe can give up early (a process that exited will never print). Past `timeoutMs` it fails naming
 * `what`.
 */
export async function pollUntil<T, U extends T>(
  probe: () => T | Promise<T>,
  done: (value: T) => value is U,
  options: PollOptions<T>,
): Promise<U>;
export async function pollUntil<T>(
  probe: () => T | Promise<T>,
  done: (value: T) => boolean,
  options: PollOptions<T>,
): Promise<T>;
export async function pollUntil<T>(
  probe: () => T | Promise<T>,
  done: (value: T) => boolean,
  { what, timeoutMs = 10_000, intervalMs = 50 }: PollOptions<T>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`Gave up after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what(value)}`);
    }
    await sleep(intervalMs);
  }
}

/** pollUntil for a yes/no condition. */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  options: PollOptions<boolean>,
): Promise<void> {
  await pollUntil(condition, (holds) => holds, options);
}
