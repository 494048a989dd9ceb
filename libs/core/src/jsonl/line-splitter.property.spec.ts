import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter, LineTooLongError, type RawLine, readLines } from './line-splitter';

const LF = 0x0a;
const CR = 0x0d;

/** A line as compared: its bytes in hex, so a failure shows exactly which byte differs. */
interface Seen {
  number: number;
  hex: string;
  start: number;
  end: number;
}
const seen = (line: RawLine): Seen => ({
  number: line.number,
  hex: line.bytes.toString('hex'),
  start: line.start,
  end: line.end,
});

/** One physical line of `buffer`: its bytes up to (not including) the \n, and whether a \n follows. */
interface Segment {
  from: number;
  bytes: Buffer;
  newline: boolean;
}

/** The file split on \n: every \n ends a line; what follows the last \n is a line only if it is not empty. */
function segments(buffer: Buffer): Segment[] {
  const out: Segment[] = [];
  let from = 0;
  for (let at = 0; at < buffer.length; at++) {
    if (buffer[at] === LF) {
      out.push({ from, bytes: buffer.subarray(from, at), newline: true });
      from = at + 1;
    }
  }
  if (from < buffer.length) {
    out.push({ from, bytes: buffer.subarray(from), newline: false });
  }
  return out;
}

/** The reference model: one \r before the \n is not part of the line; numbers and offsets shift as asked. */
function model(buffer: Buffer, firstLineNumber: number, startOffset: number): Seen[] {
  return segments(buffer).map((segment, index) => {
    const crlf = segment.bytes.length > 0 && segment.bytes[segment.bytes.length - 1] === CR;
    return {
      number: firstLineNumber + index,
      hex: (crlf ? segment.bytes.subarray(0, -1) : segment.bytes).toString('hex'),
      start: startOffset + segment.from,
      end: startOffset + segment.from + segment.bytes.length + (segment.newline ? 1 : 0),
    };
  });
}

/** `buffer` cut at the given offsets (in any order, repeats give empty chunks), as separate copies. */
function cut(buffer: Buffer, cuts: number[]): Buffer[] {
  const points = [0, ...[...cuts].sort((a, b) => a - b), buffer.length];
  return points.slice(1).map((to, i) => Buffer.from(buffer.subarray(points[i], to)));
}

async function* source(chunks: Buffer[]) {
  for (const chunk of chunks) {
    yield chunk;
  }
}

async function readAll(chunks: Buffer[], max: number, first: number, offset: number) {
  const lines: Seen[] = [];
  try {
    for await (const line of readLines(source(chunks), max, first, offset)) {
      lines.push(seen(line));
    }
    return { lines, error: null };
  } catch (error) {
    return { lines, error };
  }
}

function pushAll(chunks: Buffer[], max: number, first: number, offset: number): Seen[] {
  const splitter = new LineSplitter(max, first, offset);
  const lines = chunks.flatMap((chunk) => splitter.push(chunk));
  return [...lines, ...splitter.end()].map(seen);
}

/**
 * Text units weighted toward what breaks a splitter: \n, \r, \r\n, blank lines, and characters of two,
 * three and four UTF-8 bytes (so a cut often falls inside one), besides any code point at all.
 */
const unit = fc.oneof(
  { arbitrary: fc.constantFrom('\n', '\r', '\r\n', '\n\n', '\r\r\n'), weight: 3 },
  { arbitrary: fc.constantFrom('é', 'ß', '€', '中', '😀', '\u2028', '\u00a0', '\ufeff', '{"a":1}', ' '), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 4 }), weight: 2 },
);

/** File contents: unicode text (with or without a final newline), or raw bytes that need not be UTF-8. */
const content = fc.oneof(
  { arbitrary: fc.string({ unit, maxLength: 40 }).map((text) => Buffer.from(text)), weight: 4 },
  {
    arbitrary: fc
      .array(fc.oneof(fc.constantFrom(LF, CR, 0xc3, 0xa9, 0xf0, 0x9f, 0x80), fc.integer({ min: 0, max: 255 })), {
        maxLength: 60,
      })
      .map((bytes) => Buffer.from(bytes)),
    weight: 1,
  },
);

/** Where to cut `buffer`: anywhere (inside a character, between \r and \n, twice at one place), or at every byte. */
const cutsOf = (buffer: Buffer) =>
  fc.oneof(
    { arbitrary: fc.array(fc.integer({ min: 0, max: buffer.length }), { maxLength: 12 }), weight: 5 },
    { arbitrary: fc.constant(Array.from({ length: buffer.length + 1 }, (_, i) => i)), weight: 1 },
  );

const longestLine = (buffer: Buffer) => Math.max(0, ...segments(buffer).map((segment) => segment.bytes.length));

describe('LineSplitter properties', () => {
  it('reads the same lines, bytes and offsets however the bytes are cut, and as the model splits them', async () => {
    await fc.assert(
      fc.asyncProperty(
        content.chain((buffer) =>
          fc.record({
            buffer: fc.constant(buffer),
            cuts: cutsOf(buffer),
            // The cap sits at the longest line or just above it: a line of exactly the cap is allowed.
            slack: fc.integer({ min: 0, max: 3 }),
            first: fc.integer({ min: 1, max: 1000 }),
            offset: fc.integer({ min: 0, max: 1 << 20 }),
          }),
        ),
        async ({ buffer, cuts, slack, first, offset }) => {
          const max = longestLine(buffer) + slack;
          const expected = model(buffer, first, offset);
          const whole = await readAll([Buffer.from(buffer)], max, first, offset);
          expect(whole.error).toBeNull();
          expect(whole.lines).toEqual(expected);

          const chunks = cut(buffer, cuts);
          const split = await readAll(chunks, max, first, offset);
          expect(split.error).toBeNull();
          expect(split.lines).toEqual(expected);
          expect(pushAll(cut(buffer, cuts), max, first, offset)).toEqual(expected);

          // Offsets tile the file: each line starts where the previous ended, the last ends at its size.
          split.lines.forEach((line, i) => expect(line.start).toBe(i === 0 ? offset : split.lines[i - 1].end));
          expect(split.lines.at(-1)?.end ?? offset).toBe(offset + buffer.length);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('refuses a line longer than the cap, naming that line, whatever the split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .record({
            before: content,
            max: fc.integer({ min: 1, max: 24 }),
            over: fc.integer({ min: 1, max: 30 }),
            filler: fc.constantFrom('x', 'é', '€', '😀', '\r'),
            ending: fc.constantFrom('', '\n', '\r\n', '\r'),
            after: content,
            first: fc.integer({ min: 1, max: 1000 }),
          })
          .chain((parts) => {
            // Whatever `before` holds, the long line starts on a line of its own.
            const long = Buffer.from(parts.filler.repeat(parts.max + parts.over)).subarray(0, parts.max + parts.over);
            const buffer = Buffer.concat([
              parts.before,
              Buffer.from('\n'),
              long,
              Buffer.from(parts.ending),
              parts.after,
            ]);
            return fc.record({ buffer: fc.constant(buffer), cuts: cutsOf(buffer), parts: fc.constant(parts) });
          }),
        async ({ buffer, cuts, parts }) => {
          const { max, first } = parts;
          const all = segments(buffer);
          const index = all.findIndex((segment) => segment.bytes.length > max);
          expect(index).toBeGreaterThanOrEqual(0);
          const linesBefore = model(buffer, first, 0).slice(0, index);

          for (const chunks of [[Buffer.from(buffer)], cut(buffer, cuts)]) {
            const result = await readAll(chunks, max, first, 0);
            expect(result.error).toBeInstanceOf(LineTooLongError);
            expect(result.error).toMatchObject({ lineNumber: first + index, maxBytes: max });
            // Whatever was handed out before the refusal is exactly the lines before the long one, in order.
            expect(linesBefore.slice(0, result.lines.length)).toEqual(result.lines);
          }
          expect(() => pushAll(cut(buffer, cuts), max, first, 0)).toThrow(LineTooLongError);
        },
      ),
      { numRuns: 800 },
    );
  });
});
