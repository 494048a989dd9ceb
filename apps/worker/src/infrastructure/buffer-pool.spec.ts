import { describe, expect, it } from 'vitest';
import { BufferPool } from './buffer-pool';
import { TextBuffer } from './text-buffer';

describe('BufferPool', () => {
  it('hands back the smallest idle buffer that fits, and a new one when none does', () => {
    const pool = new BufferPool(1024);
    const [small, large] = [Buffer.alloc(100), Buffer.alloc(400)];
    pool.give(large);
    pool.give(small);
    expect(pool.take(50)).toBe(small);
    expect(pool.take(300)).toBe(large);
    const fresh = pool.take(300);
    expect(fresh.length).toBeGreaterThanOrEqual(300);
    expect(pool.idleSize).toBe(0);
  });

  it('keeps at most its cap idle, letting the smallest go first, and never a buffer larger than the cap', () => {
    const pool = new BufferPool(1000);
    pool.give(Buffer.alloc(300));
    pool.give(Buffer.alloc(500));
    pool.give(Buffer.alloc(400)); // 1,200 > 1,000: the 300 goes
    expect(pool.idleSize).toBe(900);
    expect(pool.take(1).length).toBe(400);
    pool.give(Buffer.alloc(2000));
    pool.give(Buffer.alloc(0));
    expect(pool.idleSize).toBe(500);
  });
});

describe('TextBuffer with a pool', () => {
  it('takes its buffer from the pool, gives the outgrown one back, and the last one on release', () => {
    const pool = new BufferPool(1 << 20);
    const idle = Buffer.alloc(64);
    pool.give(idle);
    const text = new TextBuffer(16, pool);
    text.append('a'.repeat(60));
    expect(text.bytes().buffer).toBe(idle.buffer);
    text.append('é'.repeat(10)); // past 64 bytes: grows, and the 64-byte buffer is idle again
    expect(text.bytes().toString()).toBe(`${'a'.repeat(60)}${'é'.repeat(10)}`);
    expect(pool.idleSize).toBe(64);
    const grown = text.bytes().buffer;
    text.release();
    expect(text.length).toBe(0);
    expect(pool.idleSize).toBe(64 + grown.byteLength);
    expect(pool.take(100).buffer).toBe(grown);
  });
});
