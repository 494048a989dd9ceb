import { describe, expect, it } from 'vitest';
import { BatchFileInspector } from './batch-file-inspector';

const limits = { maxBytes: 1000, maxRequests: 3, maxLineBytes: 200 };

function inspect(...chunks: (string | Buffer)[]) {
  const inspector = new BatchFileInspector(limits);
  for (const chunk of chunks) {
    inspector.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  }
  return inspector.result();
}

describe('BatchFileInspector', () => {
  it('accepts JSONL split anywhere, with or without a final newline and blank lines', () => {
    expect(inspect('{"a":', '1}\n\n{"b":2}\r\n{"c":3}')).toEqual({ requests: 3, problem: null });
  });

  it('names the first bad line', () => {
    expect(inspect('{"a":1}\n{"b":\n{oops}\n').problem).toBe('Line 2 is not parseable as valid JSON.');
    expect(inspect('{"a":1}\n[1,2]\n').problem).toBe('Line 2 is not a JSON object.');
    expect(inspect(Buffer.from([0x7b, 0x7d, 0x0a, 0x22, 0xc3, 0x28, 0x22, 0x0a])).problem).toBe(
      'Line 2 is not valid UTF-8.',
    );
  });

  it('names a line nested deeper than the limit, and accepts one exactly at it', () => {
    const nested = (depth: number) => `{"body":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}\n`;
    expect(inspect(`{}\n${nested(64)}`).problem).toBeNull();
    expect(inspect(`{}\n${nested(65)}`).problem).toBe(
      'Line 2 nests arrays and objects deeper than 64 levels, the most a request may have.',
    );
  });

  it('enforces the request, size and line-length limits', () => {
    expect(inspect('{}\n{}\n{}\n{}\n').problem).toMatch(/^Line 4: .*at most 3 requests/);
    expect(inspect('{}\n', 'x'.repeat(1001)).problem).toMatch(/File is too large/);
    expect(inspect(`{"a":"${'x'.repeat(300)}"}\n`).problem).toBe('Line 1 is longer than 200 bytes.');
  });

  it('rejects an empty file', () => {
    expect(inspect('\n\n').problem).toMatch(/empty/);
  });
});
