import { describe, expect, it } from 'vitest';
import { isBlankLine, parseJsonLine } from './json-line';
import { LineSplitter, LineTooLongError, readLines } from './line-splitter';

async function* chunks(...parts: string[]) {
  for (const part of parts) {
    yield Buffer.from(part);
  }
}

async function collect(source: AsyncIterable<Buffer>, max = 100) {
  const out = [];
  for await (const line of readLines(source, max)) {
    out.push({ n: line.number, text: line.bytes.toString(), start: line.start, end: line.end });
  }
  return out;
}

describe('readLines', () => {
  it('splits across chunk boundaries and tracks byte offsets', async () => {
    const lines = await collect(chunks('{"a"', ':1}\n{"b":2}\r\n', '{"c":', '3}'));
    expect(lines).toEqual([
      { n: 1, text: '{"a":1}', start: 0, end: 8 },
      { n: 2, text: '{"b":2}', start: 8, end: 17 },
      { n: 3, text: '{"c":3}', start: 17, end: 24 },
    ]);
  });

  it('counts multi-byte characters as bytes', async () => {
    const lines = await collect(chunks('"é"\n"x"\n'));
    expect(lines[1]).toMatchObject({ n: 2, start: 5, end: 9 });
  });

  it('resumes numbering and offsets for a range read from the middle of a file', () => {
    const splitter = new LineSplitter(100, 41, 1000);
    expect(splitter.push(Buffer.from('ab\ncd\n')).map((l) => [l.number, l.start, l.end])).toEqual([
      [41, 1000, 1003],
      [42, 1003, 1006],
    ]);
  });

  it('refuses a line longer than the cap instead of buffering it', async () => {
    await expect(collect(chunks('ok\n', 'x'.repeat(60), 'y'.repeat(60)), 100)).rejects.toThrow(LineTooLongError);
  });
});

describe('isBlankLine', () => {
  it('agrees with parseJsonLine on what is blank', () => {
    for (const text of ['', '  ', '\t\r', '\u00a0', '\u2028 ', ' {}', '\u00a0{"a":1}', 'x', '\u00e9']) {
      const bytes = Buffer.from(text);
      expect(isBlankLine(bytes), JSON.stringify(text)).toBe(parseJsonLine(bytes).kind === 'blank');
    }
  });
});

describe('parseJsonLine', () => {
  it('classifies lines', () => {
    expect(parseJsonLine(Buffer.from('{"a":1}'))).toEqual({ kind: 'object', value: { a: 1 } });
    expect(parseJsonLine(Buffer.from('  '))).toEqual({ kind: 'blank' });
    expect(parseJsonLine(Buffer.from('{"a":'))).toEqual({ kind: 'invalid', reason: 'json' });
    expect(parseJsonLine(Buffer.from('[1]'))).toEqual({ kind: 'invalid', reason: 'not_object' });
    expect(parseJsonLine(Buffer.from([0x7b, 0xff, 0x7d]))).toEqual({ kind: 'invalid', reason: 'encoding' });
  });
});
