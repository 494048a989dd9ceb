import { describe, expect, it } from 'vitest';
import { LineRecords, type SegmentRecords } from './line-records';

/** A segment's columns for these lines: offsets 100 apart, lengths and sequences derived from the line. */
const segment = (name: string, lines: number[], failed: number[] = []): SegmentRecords => ({
  segment: name,
  line_numbers: lines,
  succeeded: lines.map((line) => !failed.includes(line)),
  byte_offsets: lines.map((_, i) => i * 100),
  byte_lengths: lines.map((line) => line + 10),
  sequences: lines.map((line) => line * 3),
});

describe('LineRecords', () => {
  // Two lanes of an executed batch write interleaved lines to their own segments.
  const records = new LineRecords(11, 20, [segment('a', [11, 13, 14, 18], [13]), segment('b', [12, 15, 20])]);

  it("finds each line's record in its segment's columns", () => {
    expect(records.get(14)).toEqual({
      lineNumber: 14,
      outcome: 'succeeded',
      segment: 'a',
      byteOffset: 200,
      byteLength: 24,
      sequence: 42,
    });
    expect(records.get(13)?.outcome).toBe('failed');
    expect(records.get(20)).toEqual({
      lineNumber: 20,
      outcome: 'succeeded',
      segment: 'b',
      byteOffset: 200,
      byteLength: 30,
      sequence: 60,
    });
  });

  it('has no record for a line without one, nor outside its range', () => {
    for (const line of [16, 17, 19, 10, 21, -1]) {
      expect(records.get(line)).toBeUndefined();
    }
  });

  it('yields the records in line order, across segments', () => {
    expect([...records].map((r) => [r.lineNumber, r.segment, r.byteOffset])).toEqual([
      [11, 'a', 0],
      [12, 'b', 0],
      [13, 'a', 100],
      [14, 'a', 200],
      [15, 'b', 100],
      [18, 'a', 300],
      [20, 'b', 200],
    ]);
    expect(records.segmentNames).toEqual(['a', 'b']);
  });

  it('is empty without segments', () => {
    const none = new LineRecords(1, 5000, []);
    expect([...none]).toEqual([]);
    expect(none.get(1)).toBeUndefined();
  });
});
