/**
 * Large buffers handed back once their bytes are written, for the next one of about the same size. A buffer that
 * outlives a few young collections (a journal group's segment waits for its storage write and its statement) is freed
 * only by a full collection, which V8 starts once 64 MiB of such memory has piled up: reused, the same few megabytes
 * serve a whole batch, and the process keeps no more than `maxFreeBytes` of them idle.
 */
export class BufferPool {
  /** Idle buffers, smallest first. */
  private readonly idle: Buffer[] = [];
  private idleBytes = 0;

  constructor(private readonly maxFreeBytes: number) {}

  /** A buffer of at least `bytes` (its content is whatever it held before): the smallest idle one that fits, or a new one. */
  take(bytes: number): Buffer {
    const fits = this.idle.findIndex((buffer) => buffer.length >= bytes);
    if (fits === -1) {
      return Buffer.allocUnsafeSlow(Math.max(1, bytes));
    }
    const [buffer] = this.idle.splice(fits, 1);
    this.idleBytes -= buffer.length;
    return buffer;
  }

  /** Takes back a buffer nothing reads any more; past the cap, the smallest idle ones are let go first. */
  give(buffer: Buffer): void {
    if (buffer.length === 0 || buffer.length > this.maxFreeBytes) {
      return;
    }
    while (this.idle.length > 0 && this.idleBytes + buffer.length > this.maxFreeBytes) {
      const smallest = this.idle.shift() as Buffer;
      this.idleBytes -= smallest.length;
    }
    const at = this.idle.findIndex((idle) => idle.length >= buffer.length);
    this.idle.splice(at === -1 ? this.idle.length : at, 0, buffer);
    this.idleBytes += buffer.length;
  }

  /** Bytes held idle. */
  get idleSize(): number {
    return this.idleBytes;
  }
}
