import { Int32List } from '@app/core';
import { TextBuffer } from '../../infrastructure/text-buffer';

/**
 * A stage's custom_ids as stored (`{"lines":[…],"customIds":[…]}`), written as its lines go out: line numbers into a
 * typed array, custom_ids as JSON text into a buffer, both outside V8's heap. A shard's lines go out over its whole
 * upload, long enough for V8 to promote an array of their strings (up to the provider's cap, or more where an
 * upstream raises it).
 */
export class NotedCustomIds {
  private readonly lineNumbers = new Int32List();
  private readonly customIds = new TextBuffer(16 * 1024);

  add(lineNumber: number, customId: string): void {
    this.lineNumbers.push(lineNumber);
    this.customIds.append(`${JSON.stringify(customId)},`);
  }

  json(): Buffer {
    const customIds = this.customIds.bytes();
    return Buffer.concat([
      Buffer.from(`{"lines":[${this.lineNumbers.view().join(',')}],"customIds":[`),
      customIds.subarray(0, Math.max(0, customIds.length - 1)), // without the last comma
      Buffer.from(']}'),
    ]);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const LINES_HEAD = Buffer.from('{"lines":[');
const IDS_HEAD = Buffer.from('],"customIds":[');
const TAIL = Buffer.from(']}');

/**
 * The custom_ids of a stage's lines not yet settled, read from their stored JSON without decoding it: each custom_id
 * stays JSON text in the stored buffer, found by its line number (a typed array, in input order) and decoded when
 * asked for. A `Map` of strings held all of a shard's custom_ids on V8's heap through the copy of its results.
 */
export class CustomIdTable {
  private readonly settled: Uint8Array;
  private left: number;

  private constructor(
    private readonly text: Buffer,
    private readonly lineNumbers: Int32Array,
    /** Where each custom_id's JSON string starts in `text`, and (entry i + 1) where the next one does. */
    private readonly starts: Int32Array,
    private readonly ends: Int32Array,
  ) {
    this.settled = new Uint8Array(lineNumbers.length);
    this.left = lineNumbers.length;
  }

  static of(entries: Iterable<[number, string]>): CustomIdTable {
    const noted = new NotedCustomIds();
    for (const [lineNumber, customId] of entries) {
      noted.add(lineNumber, customId);
    }
    return CustomIdTable.parse(noted.json()) as CustomIdTable;
  }

  /** The table of a stored `{"lines":[…],"customIds":[…]}` in input order; null when the text is not one. */
  static parse(text: Buffer): CustomIdTable | null {
    if (!text.subarray(0, LINES_HEAD.length).equals(LINES_HEAD) || !text.subarray(-TAIL.length).equals(TAIL)) {
      return null;
    }
    const idsAt = text.indexOf(IDS_HEAD, LINES_HEAD.length);
    if (idsAt < 0) {
      return null;
    }
    const listed = text.toString('latin1', LINES_HEAD.length, idsAt);
    const numbers = listed === '' ? [] : listed.split(',').map(Number);
    const lineNumbers = Int32Array.from(numbers);
    if (numbers.some((n, i) => !Number.isInteger(n) || (i > 0 && n <= numbers[i - 1]))) {
      return null;
    }
    const starts = new Int32Array(numbers.length);
    const ends = new Int32Array(numbers.length);
    let at = idsAt + IDS_HEAD.length;
    const last = text.length - TAIL.length;
    for (let i = 0; i < numbers.length; i++) {
      if (text[at] !== QUOTE) {
        return null;
      }
      let end = at + 1;
      while (end < last && text[end] !== QUOTE) {
        end += text[end] === BACKSLASH ? 2 : 1;
      }
      const next = i === numbers.length - 1 ? last : end + 1; // a comma follows, or the list ends
      if (end >= last || end + 1 !== next || (next !== last && text[next] !== COMMA)) {
        return null;
      }
      starts[i] = at;
      ends[i] = end + 1;
      at = next + 1;
    }
    return numbers.length > 0 || at === last ? new CustomIdTable(text, lineNumbers, starts, ends) : null;
  }

  /** How many lines are left. */
  get size(): number {
    return this.left;
  }

  has(lineNumber: number): boolean {
    const i = this.indexOf(lineNumber);
    return i >= 0 && this.settled[i] === 0;
  }

  get(lineNumber: number): string | undefined {
    const i = this.indexOf(lineNumber);
    return i >= 0 && this.settled[i] === 0
      ? (JSON.parse(this.text.toString('utf8', this.starts[i], this.ends[i])) as string)
      : undefined;
  }

  /** Marks a line settled: it is no longer in the table. */
  delete(lineNumber: number): boolean {
    const i = this.indexOf(lineNumber);
    if (i < 0 || this.settled[i] === 1) {
      return false;
    }
    this.settled[i] = 1;
    this.left--;
    return true;
  }

  /** The lines left, in input order. */
  *keys(): Generator<number> {
    for (let i = 0; i < this.lineNumbers.length; i++) {
      if (this.settled[i] === 0) {
        yield this.lineNumbers[i];
      }
    }
  }

  /** The lines left with their custom_ids, in input order. */
  *entries(): Generator<[number, string]> {
    for (const lineNumber of this.keys()) {
      yield [lineNumber, this.get(lineNumber) as string];
    }
  }

  private indexOf(lineNumber: number): number {
    let [low, high] = [0, this.lineNumbers.length - 1];
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const found = this.lineNumbers[middle];
      if (found === lineNumber) {
        return middle;
      }
      if (found < lineNumber) {
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return -1;
  }
}
