import { describe, expect, it } from 'vitest';
import { int32ArrayLiteral, plainArrayLiteral } from './array-literals';

describe('int32ArrayLiteral', () => {
  it('writes the literal plainArrayLiteral writes, across many slices and at the ends of the int32 range', () => {
    const values = Int32Array.from({ length: 10_000 }, (_, i) => (i % 3 === 0 ? -i : i * 7919));
    values[1] = -2147483648;
    values[2] = 2147483647;
    expect(int32ArrayLiteral(values).toString('latin1')).toBe(plainArrayLiteral(values));
  });

  it('writes an empty array and a single entry', () => {
    expect(int32ArrayLiteral(new Int32Array(0)).toString('latin1')).toBe('{}');
    expect(int32ArrayLiteral(Int32Array.of(-5)).toString('latin1')).toBe('{-5}');
  });
});
