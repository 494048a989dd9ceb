/**
 * `work`, or a rejection naming `what` once `ms` have passed. For calls that must answer while a dependency
 * hangs (probes, a batch's enqueue); the work itself is not cancelled, and its late failure is handled.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
