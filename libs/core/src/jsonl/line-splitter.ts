export interface RawLine {
  /** 1-based physical line number in the file. */
  number: number;
  /** The line's bytes without the trailing \n (and \r). */
  bytes: Buffer;
  /** Byte offset of the line's first byte in the file. */
  start: number;
  /** Byte offset just past the line's newline: the next line starts here. */
  end: number;
}

export class LineTooLongError extends Error {
  constructor(
    readonly lineNumber: number,
    readonly maxBytes: number,
  ) {
    super(`Line ${lineNumber} is longer than ${maxBytes} bytes.`);
  }
}

/**
 * Splits a byte stream into lines as chunks arrive, tracking byte offsets so a range of lines can be
 * read back later. Memory is bounded by the longest line, which is itself capped.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private nextNumber: number;
  private offset: number;

  constructor(
    private readonly maxLineBytes: number,
    firstLineNumber = 1,
    startOffset = 0,
  ) {
    this.nextNumber = firstLineNumber;
    this.offset = startOffset;
  }

  push(chunk: Buffer): RawLine[] {
    const lines: RawLine[] = [];
    let from = 0;
    for (let nl = chunk.indexOf(10, from); nl !== -1; nl = chunk.indexOf(10, from)) {
      lines.push(this.take(chunk.subarray(from, nl), 1));
      from = nl + 1;
    }
    if (from < chunk.length) {
      this.pending.push(chunk.subarray(from));
      this.pendingBytes += chunk.length - from;
      if (this.pendingBytes > this.maxLineBytes) {
        throw new LineTooLongError(this.nextNumber, this.maxLineBytes);
      }
    }
    return lines;
  }

  /** The last line when the file does not end with a newline. */
  end(): RawLine[] {
    return this.pendingBytes > 0 ? [this.take(Buffer.alloc(0), 0)] : [];
  }

  private take(tail: Buffer, newlineBytes: number): RawLine {
    const whole = this.pendingBytes > 0 ? Buffer.concat([...this.pending, tail]) : tail;
    this.pending = [];
    this.pendingBytes = 0;
    if (whole.length > this.maxLineBytes) {
      throw new LineTooLongError(this.nextNumber, this.maxLineBytes);
    }
    const start = this.offset;
    this.offset += whole.length + newlineBytes;
    const bytes = whole.length > 0 && whole[whole.length - 1] === 13 ? whole.subarray(0, -1) : whole;
    return { number: this.nextNumber++, bytes, start, end: this.offset };
  }
}

/** Async iteration over the lines of a byte stream. */
export async function* readLines(
  source: AsyncIterable<Buffer | string>,
  maxLineBytes: number,
  firstLineNumber = 1,
  startOffset = 0,
): AsyncGenerator<RawLine> {
  for await (const page of readLinePages(source, maxLineBytes, firstLineNumber, startOffset)) {
    yield* page;
  }
}

/**
 * The lines of a byte stream, the lines each chunk completes at a time: one await per chunk rather than per line,
 * for a reader whose work per line is small next to an await.
 */
export async function* readLinePages(
  source: AsyncIterable<Buffer | string>,
  maxLineBytes: number,
  firstLineNumber = 1,
  startOffset = 0,
): AsyncGenerator<RawLine[]> {
  const splitter = new LineSplitter(maxLineBytes, firstLineNumber, startOffset);
  for await (const chunk of source) {
    const lines = splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (lines.length > 0) {
      yield lines;
    }
  }
  const last = splitter.end();
  if (last.length > 0) {
    yield last;
  }
}
