import { describe, expect, it } from 'vitest';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from './json-depth';

const exceeds = (text: string, limit = MAX_JSON_DEPTH) => jsonDepthExceeds(Buffer.from(text), limit);
const arrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const objects = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;

describe('jsonDepthExceeds', () => {
  it('accepts exactly the limit and refuses one level more, of arrays, objects or both', () => {
    expect(exceeds(arrays(64))).toBe(false);
    expect(exceeds(arrays(65))).toBe(true);
    expect(exceeds(objects(64))).toBe(false);
    expect(exceeds(objects(65))).toBe(true);
    expect(exceeds(`{"a":[{"b":[${arrays(60)}]}]}`)).toBe(false);
    expect(exceeds(`{"a":[{"b":[${arrays(61)}]}]}`)).toBe(true);
  });

  it('counts the deepest point, not the brackets: siblings do not add up', () => {
    expect(exceeds(`[${arrays(2).repeat(1000)}]`, 3)).toBe(false);
    expect(exceeds('{"a":{},"b":{},"c":[[]]}', 2)).toBe(true);
    expect(exceeds('"just a string"', 0)).toBe(false);
    expect(exceeds('12', 0)).toBe(false);
    expect(exceeds('[]', 0)).toBe(true);
  });

  it('does not count brackets inside strings, escaped quotes and backslashes included', () => {
    expect(exceeds(JSON.stringify({ text: '[[[[{{{{' }), 1)).toBe(false);
    expect(exceeds(JSON.stringify({ text: 'a "quoted [[[" part' }), 1)).toBe(false);
    expect(exceeds(JSON.stringify({ text: 'ends in a backslash \\', next: '[[[[' }), 1)).toBe(false);
    expect(exceeds(JSON.stringify({ text: '\\"[[[[' }), 1)).toBe(false);
    // After a string that merely contains an escaped quote, brackets count again.
    expect(exceeds(`{"a":"x\\"y","b":[[1]]}`, 2)).toBe(true);
    expect(exceeds(JSON.stringify({ ['key [with] {brackets}']: [1] }), 2)).toBe(false);
  });

  it('reads UTF-8 text byte by byte: multi-byte characters never look like brackets or quotes', () => {
    expect(exceeds(JSON.stringify({ text: 'é“[”日本語🙂', list: [['ü']] }), 3)).toBe(false);
    expect(exceeds(JSON.stringify({ text: 'é“[”日本語🙂', list: [[['ü']]] }), 3)).toBe(true);
  });

  it('answers for millions of levels without overflowing the stack, in one pass', () => {
    const started = performance.now();
    expect(exceeds(arrays(5_000_000))).toBe(true);
    expect(exceeds(`${'['.repeat(5_000_000)}`)).toBe(true);
    expect(exceeds(`[${'"[",'.repeat(1_000_000)}1]`)).toBe(false);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
