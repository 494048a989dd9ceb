import type { BufferPool } from './buffer-pool';

/** Text written as UTF-8 into one buffer outside V8's heap as it comes, grown by doubling: it can then die young. */
export class TextBuffer {
  private content: Buffer;
  private used = 0;

  /** With a pool, the buffer comes from it and goes back to it on growth and on `release()`. */
  constructor(
    capacity: number,
    private readonly pool?: BufferPool,
  ) {
    this.content = this.allocate(capacity);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.used;
  }

  /** Writes `text` at the end; returns its length in bytes. */
  append(text: string): number {
    const length = Buffer.byteLength(text);
    if (this.used + length > this.content.length) {
      const grown = this.allocate(Math.max(2 * this.content.length, this.used + length));
      this.content.copy(grown, 0, 0, this.used);
      this.pool?.give(this.content);
      this.content = grown;
    }
    this.used += this.content.write(text, this.used);
    return length;
  }

  /** The bytes written so far (a view, not a copy: valid until `release()`). */
  bytes(): Buffer {
    return this.content.subarray(0, this.used);
  }

  /** Hands the buffer back to the pool once nothing reads its bytes any more; the text is then empty. */
  release(): void {
    this.pool?.give(this.content);
    this.content = EMPTY;
    this.used = 0;
  }

  private allocate(capacity: number): Buffer {
    return this.pool ? this.pool.take(capacity) : Buffer.allocUnsafeSlow(Math.max(1, capacity));
  }
}

const EMPTY = Buffer.alloc(0);
