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
    const columns = draft.lines();
    expect(draft.count).toBe(lines.length);
    lines.forEach((line, i) => {
      const bytes = segment.subarray(columns.byteOffset[i], columns.byteOffset[i] + columns.byteLength[i]);
      expect(bytes.toString('utf8')).toBe(`${line}\n`);
      expect(columns.lineNumber[i]).toBe(i + 1);
      expect(columns.outcome[i]).toBe(i % 2 === 1 ? 'failed' : 'succeeded');
      expect([
        columns.inputTokens[i],
        columns.cachedTokens[i],
        columns.outputTokens[i],
        columns.reasoningTokens[i],
      ]).toEqual([usage.inputTokens, usage.cachedTokens, usage.outputTokens, usage.reasoningTokens]);
    });
    // Each column holds exactly the lines (no spare capacity reaches the statement).
    expect(columns.lineNumber).toHaveLength(lines.length);
    expect(columns.reasoningTokens).toHaveLength(lines.length);
  });

  it('keeps every record when its columns grow past their first capacity', () => {
    const draft = new SegmentDraft(16, 1);
    const count = 37;
    for (let n = 1; n <= count; n++) {
      draft.add({ ...result(n, `{"n":${n}}`), usage: { ...usage, outputTokens: n * 10 } });
    }
    const columns = draft.lines();
    expect(Array.from(columns.lineNumber)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(Array.from(columns.outputTokens)).toEqual(Array.from({ length: count }, (_, i) => (i + 1) * 10));
    expect(columns.byteOffset[count - 1] + columns.byteLength[count - 1]).toBe(draft.bytes);
  });

  it('holds nothing before a line is added', () => {
    const draft = new SegmentDraft(1024);
    expect(draft.bytes).toBe(0);
    expect(draft.segment()).toHaveLength(0);
    expect(draft.count).toBe(0);
    expect(draft.lines().lineNumber).toHaveLength(0);
  });
});
