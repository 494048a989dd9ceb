import { describeInvalidLine, LineSplitter, LineTooLongError, parseInputLine, tooManyRequestsMessage } from '@app/core';

export interface BatchFileLimits {
  maxBytes: number;
  maxRequests: number;
  maxLineBytes: number;
}

export interface BatchFileInspection {
  requests: number;
  /** The first problem found, naming its line; null when the file is well-formed JSONL. */
  problem: string | null;
}

/**
 * Checks the Batch API input rules on bytes as they stream past: UTF-8, one JSON object per line,
 * size and line limits. It stops looking at the first problem, so it never holds more than one line.
 */
export class BatchFileInspector {
  private readonly splitter: LineSplitter;
  private bytes = 0;
  private requests = 0;
  private problem: string | null = null;

  constructor(private readonly limits: BatchFileLimits) {
    this.splitter = new LineSplitter(limits.maxLineBytes);
  }

  push(chunk: Buffer): void {
    if (this.problem) {
      return;
    }
    this.bytes += chunk.length;
    if (this.bytes > this.limits.maxBytes) {
      this.problem = `File is too large. Batch input files can be at most ${this.limits.maxBytes} bytes.`;
      return;
    }
    this.guard(() => this.splitter.push(chunk));
  }

  result(): BatchFileInspection {
    this.guard(() => this.splitter.end());
    if (!this.problem && this.requests === 0) {
      this.problem = 'The input file is empty. A batch file must contain at least one request.';
    }
    return { requests: this.requests, problem: this.problem };
  }

  private guard(split: () => ReturnType<LineSplitter['push']>): void {
    if (this.problem) {
      return;
    }
    try {
      for (const line of split()) {
        this.check(line.number, line.bytes);
        if (this.problem) {
          return;
        }
      }
    } catch (error) {
      if (!(error instanceof LineTooLongError)) {
        throw error;
      }
      this.problem = error.message;
    }
  }

  private check(lineNumber: number, bytes: Buffer): void {
    const parsed = parseInputLine(bytes);
    if (parsed.kind === 'invalid') {
      this.problem = describeInvalidLine(lineNumber, parsed.reason);
    } else if (parsed.kind === 'object' && ++this.requests > this.limits.maxRequests) {
      this.problem = tooManyRequestsMessage(this.limits.maxRequests, lineNumber);
    }
  }
}
