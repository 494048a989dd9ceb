import { describe, expect, it } from 'vitest';
import { newApiKeySecret, newBatchId, newBatchRequestId, newFileId, randomBase62 } from './ids';

describe('ids', () => {
  it('have the OpenAI prefixes and 24 base62 characters', () => {
    expect(newFileId()).toMatch(/^file-[0-9A-Za-z]{24}$/);
    expect(newBatchId()).toMatch(/^batch_[0-9A-Za-z]{24}$/);
    expect(newBatchRequestId()).toMatch(/^batch_req_[0-9A-Za-z]{24}$/);
  });

  it('workspace keys are vk_ plus at least 32 base62 characters', () => {
    expect(newApiKeySecret()).toMatch(/^vk_[0-9A-Za-z]{32,}$/);
  });

  it('do not repeat and use the whole alphabet', () => {
    const sample = Array.from({ length: 2000 }, () => randomBase62(24));
    expect(new Set(sample).size).toBe(sample.length);
    expect(new Set(sample.join('')).size).toBe(62);
  });
});
