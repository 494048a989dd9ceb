import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UPLOAD_PART_MAX_BYTES } from '@app/core';
import { partPieces, pieceCount } from './part-pieces';

async function* chunked(bytes: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]);
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

const collect = async (source: AsyncIterable<Buffer>) => {
  const pieces: Buffer[] = [];
  for await (const piece of source) {
    pieces.push(Buffer.from(piece));
  }
  return pieces;
};

describe('partPieces', () => {
  it('cuts any part, however it arrives, into pieces that join back into it, each at least the minimum but a lone small one', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 400 }),
        fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 6 }),
        async (length, sizes) => {
          const bytes = Buffer.from(Array.from({ length }, (_, i) => i % 251));
          const pieces = await collect(partPieces(chunked(bytes, sizes), 40, 25));
          expect(Buffer.concat(pieces).equals(bytes)).toBe(true);
          expect(pieces.length).toBe(pieceCount(length, 40, 25));
          if (pieces.length > 1) {
            expect(pieces.every((piece) => piece.length >= 25)).toBe(true);
          }
          // Never more held than a piece and a minimum, plus the chunk that just came.
          expect(pieces.every((piece) => piece.length < 40 + 25 + 70)).toBe(true);
        },
      ),
    );
  });

  it('gives a part of the largest size no more pieces than its block of S3 part numbers', () => {
    expect(pieceCount(UPLOAD_PART_MAX_BYTES)).toBe(8);
    expect(pieceCount(0)).toBe(0);
    expect(pieceCount(1)).toBe(1);
  });
});
