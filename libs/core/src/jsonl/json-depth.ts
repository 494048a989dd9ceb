/**
 * The deepest nesting of arrays and objects accepted in a JSON request body and in a batch input line. JSON.parse
 * takes any depth, but serialising, validating or copying what it built recurses and overflows the stack at a few
 * thousand levels; no request of the OpenAI API comes near 64.
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * Whether UTF-8 JSON text nests arrays and objects deeper than `limit` (`[[1]]` is 2 deep). One pass over the
 * bytes, no parse and no recursion, so any depth is answered in time linear in the length: brackets inside strings
 * do not count. UTF-8 never uses these ASCII bytes inside a multi-byte character. Text that is not valid JSON
 * gets an answer too, for the parser to refuse after.
 */
export function jsonDepthExceeds(bytes: Uint8Array, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let at = 0; at < bytes.length; at++) {
    const byte = bytes[at];
    if (inString) {
      if (byte === BACKSLASH) {
        at++; // the escaped character, a quote maybe, does not end the string
      } else if (byte === QUOTE) {
        inString = false;
      }
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > limit) {
        return true;
      }
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      depth--;
    }
  }
  return false;
}
