import { describe, expect, it } from 'vitest';
import { Int32List } from './int32-list';

describe('Int32List', () => {
  it('keeps every value in order as it grows past its capacity', () => {
    const list = new Int32List(3);
    const values = Array.from({ length: 1000 }, (_, i) => (i % 7 === 0 ? -i - 1 : i * 3));
    values.forEach((value) => list.push(value));
    expect(list.length).toBe(1000);
    expect(Array.from(list.view())).toEqual(values);
  });

  it('is empty at first, whatever its capacity', () => {
    for (const capacity of [0, 1, 16]) {
      const list = new Int32List(capacity);
      expect(list.length).toBe(0);
      expect(list.view()).toHaveLength(0);
      list.push(5);
      expect(Array.from(list.view())).toEqual([5]);
    }
  });
});
