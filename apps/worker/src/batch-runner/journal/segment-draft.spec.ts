import { describe, expect, it } from 'vitest';
import { SegmentDraft } from './journal-store';
import type { LineResult } from './line-result';

const usage = { inputTokens: 3, cachedTokens: 1, outputTokens: 2, reasoningTokens: 0 };

const result = (lineNumber: number, line: string): LineResult => ({
  lineNumber,
  outcome: lineNumber % 2 === 0 ? 'failed' : 'succeeded',
  line,
  usage,
});

describe('SegmentDraft', () => {
  it('encodes each line as it comes, growing past its first buffer, each line found again by its offset', () => {
    const lines = [
      '{"custom_id":"a"}',
      '{"custom_id":"é – ünïcödé, 東京"}',
      `{"custom_id":"${'x'.repeat(300)}"}`,
      '{"custom_id":"🙂"}',
    ];
    const draft = new SegmentDraft(8);
    lines.forEach((line, i) => draft.add(result(i + 1, line)));

    const segment = draft.segment();
    expect(segment.toString('utf8')).toBe(lines.map((line) => `${line}\n`).join(''));
    expect(draft.bytes).toBe(segment.length);
    draft.lines.forEach((record, i) => {
      const bytes = segment.subarray(record.byteOffset, record.byteOffset + record.byteLength);
      expect(bytes.toString('utf8')).toBe(`${lines[i]}\n`);
      expect(record).toMatchObject({ lineNumber: i + 1, outcome: i % 2 === 1 ? 'failed' : 'succeeded', ...usage });
    });
  });

  it('holds nothing before a line is added', () => {
    const draft = new SegmentDraft(1024);
    expect(draft.bytes).toBe(0);
    expect(draft.segment()).toHaveLength(0);
    expect(draft.lines).toEqual([]);
  });
});
