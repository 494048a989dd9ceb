/** Text written as UTF-8 into one buffer outside V8's heap as it comes, grown by doubling: it can then die young. */
export class TextBuffer {
  private content: Buffer;
  private used = 0;

  constructor(capacity: number) {
    this.content = Buffer.allocUnsafeSlow(Math.max(1, capacity));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.used;
  }

  /** Writes `text` at the end; returns its length in bytes. */
  append(text: string): number {
    const length = Buffer.byteLength(text);
    if (this.used + length > this.content.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.content.length, this.used + length));
      this.content.copy(grown, 0, 0, this.used);
      this.content = grown;
    }
    this.used += this.content.write(text, this.used);
    return length;
  }

  /** The bytes written so far (a view, not a copy). */
  bytes(): Buffer {
    return this.content.subarray(0, this.used);
  }
}
