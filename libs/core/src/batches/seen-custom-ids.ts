const EMPTY = 0;

/**
 * The custom_ids an input has used so far, for its each-custom_id-once rule: an open-addressing hash set whose ids
 * are kept as UTF-16 code units in one typed array, outside V8's heap. A `Set` of strings held every custom_id of an
 * input on the heap for the whole walk, for V8 to carry and collect; here each costs its characters and a few
 * integers.
 */
export class SeenCustomIds {
  private chars = new Uint16Array(16 * 1024);
  private used = 0;
  /** Where each entry's characters start; the next entry's start (or `used`) is where they end. */
  private starts = new Int32Array(1024);
  private hashes = new Int32Array(1024);
  /** Entry index + 1 per slot, EMPTY where none; at most half full. */
  private slots = new Int32Array(2048);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Notes a custom_id; false when it was already noted. */
  add(customId: string): boolean {
    const hash = hashOf(customId);
    const mask = this.slots.length - 1;
    let slot = hash & mask;
    for (let entry = this.slots[slot]; entry !== EMPTY; entry = this.slots[slot]) {
      if (this.hashes[entry - 1] === hash && this.holds(entry - 1, customId)) {
        return false;
      }
      slot = (slot + 1) & mask;
    }
    this.store(customId, hash);
    this.slots[slot] = this.count;
    if (2 * this.count > this.slots.length) {
      this.rehash(2 * this.slots.length);
    }
    return true;
  }

  private holds(entry: number, customId: string): boolean {
    const start = this.starts[entry];
    const end = entry + 1 < this.count ? this.starts[entry + 1] : this.used;
    if (end - start !== customId.length) {
      return false;
    }
    for (let i = 0; i < customId.length; i++) {
      if (this.chars[start + i] !== customId.charCodeAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** Appends an entry; `count` is then its index + 1. */
  private store(customId: string, hash: number): void {
    if (this.count === this.starts.length) {
      this.starts = grown(this.starts, 2 * this.count);
      this.hashes = grown(this.hashes, 2 * this.count);
    }
    if (this.used + customId.length > this.chars.length) {
      const chars = new Uint16Array(Math.max(2 * this.chars.length, this.used + customId.length));
      chars.set(this.chars.subarray(0, this.used));
      this.chars = chars;
    }
    for (let i = 0; i < customId.length; i++) {
      this.chars[this.used + i] = customId.charCodeAt(i);
    }
    this.starts[this.count] = this.used;
    this.hashes[this.count] = hash;
    this.used += customId.length;
    this.count++;
  }

  private rehash(size: number): void {
    const slots = new Int32Array(size);
    const mask = size - 1;
    for (let entry = 0; entry < this.count; entry++) {
      let slot = this.hashes[entry] & mask;
      while (slots[slot] !== EMPTY) {
        slot = (slot + 1) & mask;
      }
      slots[slot] = entry + 1;
    }
    this.slots = slots;
  }
}

function grown(values: Int32Array, size: number): Int32Array<ArrayBuffer> {
  const copy = new Int32Array(size);
  copy.set(values);
  return copy;
}

/** FNV-1a over the UTF-16 code units, then mixed (murmur3's finalizer) so that the low bits index well. */
export function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  }
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) | 0;
}
