import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PriceTable } from './price-table';

const write = (name: string, text: string) => {
  const path = join(mkdtempSync(join(tmpdir(), 'prices-')), name);
  writeFileSync(path, text);
  return path;
};

describe('PriceTable', () => {
  it('prices by the first matching pattern, with the batch discount', () => {
    const table = PriceTable.load(
      write(
        'prices.yaml',
        [
          'batch_discount: 0.5',
          'models:',
          '  - { match: "gpt-4o-mini*", input_per_million: 0.15, output_per_million: 0.6 }',
          '  - { match: "gpt-4o*", input_per_million: 2.5, output_per_million: 10, batch_discount: 0 }',
        ].join('\n'),
      ),
    );
    // (1M × 0.15 + 1M × 0.6) × 0.5
    expect(table.cost('gpt-4o-mini-2024-07-18', 1_000_000, 1_000_000)).toBe(0.375);
    expect(table.cost('gpt-4o', 1000, 100)).toBe(0.0035);
    expect(table.cost('gpt-4', 1000, 100)).toBeNull();
    expect(PriceTable.total([0.1, 0.2])).toBe(0.3);
    expect(PriceTable.total([0.1, null])).toBeNull();
  });

  it('has no prices without a file', () => {
    expect(PriceTable.load(undefined).cost('gpt-4o', 1, 1)).toBeNull();
  });

  it('names the entry that is wrong', () => {
    expect(() => PriceTable.load(write('p.json', '{"models":[{"match":"a*","input_per_million":-1}]}'))).toThrow(
      /model #1 needs "input_per_million"/,
    );
    expect(() => PriceTable.load(write('p.json', '{"batch_discount":1,"models":[]}'))).toThrow(/batch_discount/);
    expect(() => PriceTable.load(write('p.yaml', 'prices: []'))).toThrow(/"models" list/);
  });
});
