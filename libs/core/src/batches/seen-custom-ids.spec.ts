import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashOf, SeenCustomIds } from './seen-custom-ids';

describe('SeenCustomIds', () => {
  it('answers as a Set of strings would, for any custom_ids, past every growth of its arrays', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constantFrom('a', 'ab', 'é', '')), {
          maxLength: 3_000,
        }),
        (ids) => {
          const seen = new SeenCustomIds();
          const expected = new Set<string>();
          for (const id of ids) {
            expect(seen.add(id)).toBe(!expected.has(id));
            expected.add(id);
          }
          expect(seen.size).toBe(expected.size);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('tells apart ids that differ in one character, in length, or only past the first bytes', () => {
    const seen = new SeenCustomIds();
    const ids = Array.from({ length: 50_000 }, (_, i) => `request-${i}`);
    ids.forEach((id) => expect(seen.add(id)).toBe(true));
    expect(seen.add('request-0')).toBe(false);
    expect(seen.add('request-49999')).toBe(false);
    expect(seen.add('request-50000')).toBe(true);
    expect(seen.add('request-0 ')).toBe(true);
    expect(seen.add('Request-0')).toBe(true);
    expect(seen.add(`${'x'.repeat(40_000)}`)).toBe(true); // longer than the first character store
    expect(seen.add(`${'x'.repeat(40_000)}`)).toBe(false);
    expect(seen.size).toBe(50_004);
  });

  it('tells apart two custom_ids of the same length and hash', () => {
    const byHash = new Map<number, string>();
    let pair: [string, string] | null = null;
    for (let i = 0; !pair; i++) {
      const id = `id-${i.toString().padStart(8, '0')}`;
      const other = byHash.get(hashOf(id));
      pair = other === undefined ? null : [other, id];
      byHash.set(hashOf(id), id);
    }
    const seen = new SeenCustomIds();
    expect(seen.add(pair[0])).toBe(true);
    expect(seen.add(pair[1])).toBe(true);
    expect(seen.add(pair[0])).toBe(false);
    expect(seen.add(pair[1])).toBe(false);
  });
});
