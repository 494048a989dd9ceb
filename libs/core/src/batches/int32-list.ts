/**
 * 32-bit integers appended one at a time to a typed array grown by doubling: 4 bytes each outside V8's heap, where a
 * JavaScript array of as many numbers would be promoted with its every copy while it grows.
 */
export class Int32List {
  private values: Int32Array<ArrayBuffer>;
  private count = 0;

  constructor(capacity = 1024) {
    this.values = new Int32Array(Math.max(1, capacity));
  }

  push(value: number): void {
    if (this.count === this.values.length) {
      const grown = new Int32Array(2 * this.count);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = value;
  }

  get length(): number {
    return this.count;
  }

  /** The values pushed so far, a view of them: valid until the next push. */
  view(): Int32Array<ArrayBuffer> {
    return this.values.subarray(0, this.count);
  }
}
