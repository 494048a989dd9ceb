import { jsonDepthExceeds, MAX_JSON_DEPTH } from './json-depth';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export type InvalidLineReason = 'encoding' | 'json' | 'not_object' | 'too_deep';

export type ParsedLine =
  | { kind: 'blank' }
  | { kind: 'object'; value: Record<string, unknown> }
  | { kind: 'invalid'; reason: InvalidLineReason };

/** Decodes one JSONL line strictly: UTF-8, valid JSON, and a JSON object. Blank lines are reported as such. */
export function parseJsonLine(bytes: Buffer): ParsedLine {
  return parseLine(bytes, null);
}

/**
 * Decodes one batch input line: as parseJsonLine, and nested at most MAX_JSON_DEPTH deep, so that the worker can
 * send it. Upload checks, validation and estimates read input with it; the upstream's answers (output lines) are
 * not ours to limit.
 */
export function parseInputLine(bytes: Buffer): ParsedLine {
  return parseLine(bytes, MAX_JSON_DEPTH);
}

function parseLine(bytes: Buffer, maxDepth: number | null): ParsedLine {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { kind: 'invalid', reason: 'encoding' };
  }
  if (text.trim() === '') {
    return { kind: 'blank' };
  }
  if (maxDepth !== null && jsonDepthExceeds(bytes, maxDepth)) {
    return { kind: 'invalid', reason: 'too_deep' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'invalid', reason: 'json' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { kind: 'invalid', reason: 'not_object' };
  }
  return { kind: 'object', value: value as Record<string, unknown> };
}

export const describeInvalidLine = (line: number, reason: InvalidLineReason): string =>
  ({
    encoding: `Line ${line} is not valid UTF-8.`,
    json: `Line ${line} is not parseable as valid JSON.`,
    not_object: `Line ${line} is not a JSON object.`,
    too_deep: `Line ${line} nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels, the most a request may have.`,
  })[reason];

/** Whether parseJsonLine would call the line blank, without decoding it in the usual, all-ASCII case. */
export function isBlankLine(bytes: Buffer): boolean {
  for (const byte of bytes) {
    if (byte === 0x20 || (byte >= 0x09 && byte <= 0x0d)) {
      continue;
    }
    // Other whitespace is non-ASCII (no-break space, line separators...): rare, so decode then.
    return byte >= 0x80 && parseJsonLine(bytes).kind === 'blank';
  }
  return true;
}
