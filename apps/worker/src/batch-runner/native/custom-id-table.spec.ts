import { describe, expect, it } from 'vitest';
import { CustomIdTable } from './custom-id-table';

const awkward = ['plain', 'with "quotes" and \\ backslashes \\"', 'line\nbreak\ttab\u0001', 'é – 東京 🙂', '', ','];

describe('CustomIdTable', () => {
  it('finds each custom_id by its line number, whatever characters it holds', () => {
    const entries = awkward.map((customId, i): [number, string] => [10 * (i + 1), customId]);
    const table = CustomIdTable.of(entries);
    expect(table.size).toBe(awkward.length);
    entries.forEach(([lineNumber, customId]) => {
      expect(table.has(lineNumber)).toBe(true);
      expect(table.get(lineNumber)).toBe(customId);
    });
    expect(table.has(15)).toBe(false);
    expect(table.get(15)).toBeUndefined();
    expect([...table.entries()]).toEqual(entries);
  });

  it('reads what an earlier version stored (JSON.stringify of the two lists)', () => {
    const stored = Buffer.from(JSON.stringify({ lines: [2, 5, 9], customIds: awkward.slice(0, 3) }));
    const table = CustomIdTable.parse(stored);
    expect(table && [...table.entries()]).toEqual([
      [2, awkward[0]],
      [5, awkward[1]],
      [9, awkward[2]],
    ]);
  });

  it('forgets a settled line, once, and lists the others in input order', () => {
    const table = CustomIdTable.of([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
      [4, 'd'],
    ]);
    expect(table.delete(2)).toBe(true);
    expect(table.delete(2)).toBe(false);
    expect(table.delete(99)).toBe(false);
    expect(table.has(2)).toBe(false);
    expect(table.get(2)).toBeUndefined();
    expect(table.size).toBe(3);
    expect([...table.keys()]).toEqual([1, 3, 4]);
    table.delete(1);
    table.delete(4);
    expect([...table.entries()]).toEqual([[3, 'c']]);
  });

  it('holds nothing for a stage without lines', () => {
    const table = CustomIdTable.of([]);
    expect(table.size).toBe(0);
    expect([...table.keys()]).toEqual([]);
  });

  it('refuses text that is not a whole stored list, so the input is read instead', () => {
    const good = JSON.stringify({ lines: [1, 2], customIds: ['a', 'b'] });
    for (const text of [
      good.slice(0, -3), // cut short
      JSON.stringify({ lines: [1, 2], customIds: ['a'] }), // fewer custom_ids than lines
      JSON.stringify({ lines: [1], customIds: ['a', 'b'] }), // more
      JSON.stringify({ lines: [2, 1], customIds: ['a', 'b'] }), // not in input order
      JSON.stringify({ customIds: ['a'], lines: [1] }), // another layout
      'not json',
    ]) {
      expect(CustomIdTable.parse(Buffer.from(text))).toBeNull();
    }
    expect(CustomIdTable.parse(Buffer.from(good))).not.toBeNull();
  });
});
