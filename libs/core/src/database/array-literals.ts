/**
 * An array parameter as a PostgreSQL array literal, for values that need no quoting: integers, and plain words such
 * as statuses. Given a JavaScript array, node-postgres quotes and escapes each element on its own, which on a journal
 * group of thousands of lines costs more worker time than the statement; a joined literal (cast in SQL,
 * `$3::int[]`) is read the same by PostgreSQL.
 */
export const plainArrayLiteral = (values: readonly (number | string)[] | Int32Array): string => `{${values.join(',')}}`;

/** Entries joined into one string at a time: small enough to die young. */
const LITERAL_SLICE = 4096;

/**
 * An integer array's literal written as bytes, a slice of entries at a time, for one entry per line of a batch: its
 * millions of entries never become one string on V8's heap. Sent as a binary parameter and cast in SQL
 * (`$2::text::int[]`).
 */
export function int32ArrayLiteral(values: Int32Array): Buffer {
  const bytes = Buffer.allocUnsafe(2 + 12 * values.length); // "-2147483648," is the longest entry
  let at = bytes.write('{', 0, 'latin1');
  for (let i = 0; i < values.length; i += LITERAL_SLICE) {
    at += bytes.write(`${i > 0 ? ',' : ''}${values.subarray(i, i + LITERAL_SLICE).join(',')}`, at, 'latin1');
  }
  at += bytes.write('}', at, 'latin1');
  return bytes.subarray(0, at);
}
