import { ASSEMBLY_MIN_PART_BYTES } from '@app/core';

/** A part goes to the store in pieces of this size (the last a little larger): one S3 part each. */
export const PIECE_BYTES = 8 * 1024 * 1024;

/**
 * A part's bytes cut into pieces the store can join: each at least `minBytes` (S3's smallest part), except
 * a part smaller than that, which is one piece. A piece is cut only once `minBytes` more have arrived, so
 * the last piece is never short. About pieceBytes + minBytes are held at once, whatever the part's size.
 */
export async function* partPieces(
  source: AsyncIterable<Buffer>,
  pieceBytes = PIECE_BYTES,
  minBytes = ASSEMBLY_MIN_PART_BYTES,
): AsyncGenerator<Buffer> {
  const held: Buffer[] = [];
  let heldBytes = 0;
  for await (const chunk of source) {
    held.push(chunk);
    heldBytes += chunk.length;
    while (heldBytes >= pieceBytes + minBytes) {
      yield takeFront(held, pieceBytes);
      heldBytes -= pieceBytes;
    }
  }
  if (heldBytes > 0) {
    yield Buffer.concat(held, heldBytes);
  }
}

/** Removes the first `bytes` from `chunks` and returns them as one buffer; only those bytes are copied. */
function takeFront(chunks: Buffer[], bytes: number): Buffer {
  const taken: Buffer[] = [];
  let needed = bytes;
  while (needed > 0) {
    const first = chunks[0];
    if (first.length <= needed) {
      taken.push(first);
      chunks.shift();
      needed -= first.length;
    } else {
      taken.push(first.subarray(0, needed));
      chunks[0] = first.subarray(needed);
      needed = 0;
    }
  }
  return Buffer.concat(taken, bytes);
}

/** How many pieces a part of `bytes` becomes. */
export function pieceCount(bytes: number, pieceBytes = PIECE_BYTES, minBytes = ASSEMBLY_MIN_PART_BYTES): number {
  if (bytes === 0) {
    return 0;
  }
  return bytes < pieceBytes + minBytes ? 1 : 1 + Math.floor((bytes - minBytes) / pieceBytes);
}
