import { describe, expect, it } from 'vitest';
import { countInputTokens, outputCeiling, tokenizerFor } from './token-counting';

/** The example of OpenAI's cookbook "How to count tokens with tiktoken": 129 tokens on gpt-4, 124 on gpt-4o. */
const COOKBOOK_MESSAGES = [
  {
    role: 'system',
    content: 'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.',
  },
  { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
  { role: 'system', name: 'example_assistant', content: 'Things working well together will increase revenue.' },
  {
    role: 'system',
    name: 'example_user',
    content: "Let's circle back when we have more time to touch base on opportunities for increased leverage.",
  },
  {
    role: 'system',
    name: 'example_assistant',
    content: "Let's talk later when we're less busy about how to do better.",
  },
  {
    role: 'user',
    content: "This late pivot means we don't have time to boil the ocean for the client deliverable.",
  },
];

describe('tokenizerFor', () => {
  it('picks the encoding of the model family, and flags the fallback', () => {
    expect(tokenizerFor('gpt-4o-mini').label).toBe('o200k_base');
    expect(tokenizerFor('gpt-4.1-2025-04-14').label).toBe('o200k_base');
    expect(tokenizerFor('o3-mini').label).toBe('o200k_base');
    expect(tokenizerFor('gpt-5').label).toBe('o200k_base');
    expect(tokenizerFor('gpt-4-0613').label).toBe('cl100k_base');
    expect(tokenizerFor('gpt-3.5-turbo').label).toBe('cl100k_base');
    expect(tokenizerFor('text-embedding-3-small').label).toBe('cl100k_base');
    expect(tokenizerFor('text-embedding-ada-002').label).toBe('cl100k_base');
    expect(tokenizerFor('llama-3-70b').label).toBe('o200k_base (fallback)');
  });

  it('counts known strings exactly', () => {
    expect(tokenizerFor('gpt-4o').count('hello world')).toBe(2);
    expect(tokenizerFor('gpt-4').count('hello world')).toBe(2);
    // The two encodings split this differently: proof that each model gets its own.
    expect(tokenizerFor('gpt-4o').count('こんにちは世界')).toBe(2);
    expect(tokenizerFor('gpt-4').count('こんにちは世界')).toBe(4);
    // A special token in user text is plain text, not an error.
    expect(tokenizerFor('gpt-4o').count('<|endoftext|>')).toBe(7);
  });
});

describe('countInputTokens', () => {
  it('counts chat messages the way OpenAI does (the cookbook figures)', () => {
    const body = { model: 'x', messages: COOKBOOK_MESSAGES };
    expect(countInputTokens('/v1/chat/completions', body, tokenizerFor('gpt-4-0613'))).toBe(129);
    expect(countInputTokens('/v1/chat/completions', body, tokenizerFor('gpt-4o'))).toBe(124);
  });

  it('counts text parts of array content, and nothing else of them', () => {
    const tokenizer = tokenizerFor('gpt-4o');
    const asString = { messages: [{ role: 'user', content: 'hello world' }] };
    const asParts = {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'hello' },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
            { type: 'text', text: ' world' },
          ],
        },
      ],
    };
    // 3 priming + 3 per message + 'user' (1) + 'hello world' (2)
    expect(countInputTokens('/v1/chat/completions', asString, tokenizer)).toBe(9);
    expect(countInputTokens('/v1/chat/completions', asParts, tokenizer)).toBe(9);
  });

  it('counts embeddings and moderations input: a string, strings, or token ids', () => {
    const tokenizer = tokenizerFor('text-embedding-3-small');
    expect(countInputTokens('/v1/embeddings', { input: 'hello world' }, tokenizer)).toBe(2);
    expect(countInputTokens('/v1/embeddings', { input: ['hello world', 'hello'] }, tokenizer)).toBe(3);
    expect(countInputTokens('/v1/embeddings', { input: [15339, 1917, 0] }, tokenizer)).toBe(3);
    expect(countInputTokens('/v1/embeddings', { input: [[1, 2], [3]] }, tokenizer)).toBe(3);
    expect(countInputTokens('/v1/moderations', { input: [{ type: 'text', text: 'hello world' }] }, tokenizer)).toBe(2);
  });

  it('counts completions prompt and responses input with instructions', () => {
    const tokenizer = tokenizerFor('gpt-4o');
    expect(countInputTokens('/v1/completions', { prompt: 'hello world' }, tokenizer)).toBe(2);
    expect(countInputTokens('/v1/completions', { prompt: ['hello world', 'hello'] }, tokenizer)).toBe(3);
    // 3 priming + (3 + 'user' 1 + 2)
    expect(countInputTokens('/v1/responses', { input: 'hello world' }, tokenizer)).toBe(9);
    // + (3 + 'system' 1 + 'hello' 1)
    expect(countInputTokens('/v1/responses', { instructions: 'hello', input: 'hello world' }, tokenizer)).toBe(14);
    const items = { input: [{ role: 'user', content: [{ type: 'input_text', text: 'hello world' }] }] };
    expect(countInputTokens('/v1/responses', items, tokenizer)).toBe(9);
  });

  it('counts the prompt of image and video lines', () => {
    const tokenizer = tokenizerFor('gpt-image-1');
    for (const endpoint of ['/v1/images/generations', '/v1/images/edits', '/v1/videos']) {
      expect(countInputTokens(endpoint, { prompt: 'hello world' }, tokenizer)).toBe(2);
    }
  });
});

describe('outputCeiling', () => {
  it('counts every one of n answers, images by quality and size, and no output for videos', () => {
    expect(outputCeiling('/v1/chat/completions', { max_tokens: 10, n: 3 }, 7)).toEqual({ tokens: 30, stated: true });
    expect(outputCeiling('/v1/chat/completions', { n: 2 }, 7)).toEqual({ tokens: 14, stated: false });
    expect(outputCeiling('/v1/chat/completions', { max_tokens: 10, n: 0 }, 7)).toEqual({ tokens: 10, stated: true });
    expect(outputCeiling('/v1/images/generations', { quality: 'low', size: '1024x1024' }, 7)).toEqual({
      tokens: 272,
      stated: true,
    });
    expect(outputCeiling('/v1/images/generations', { quality: 'medium', size: '1024x1536', n: 2 }, 7)).toEqual({
      tokens: 3168,
      stated: true,
    });
    expect(outputCeiling('/v1/images/edits', { prompt: 'x' }, 7)).toEqual({ tokens: 6240, stated: true });
    expect(outputCeiling('/v1/videos', { prompt: 'x', seconds: '4' }, 7)).toEqual({ tokens: 0, stated: true });
  });

  it('takes max_completion_tokens, max_tokens or max_output_tokens, else the default', () => {
    expect(outputCeiling('/v1/chat/completions', { max_completion_tokens: 50, max_tokens: 10 }, 7)).toEqual({
      tokens: 50,
      stated: true,
    });
    expect(outputCeiling('/v1/chat/completions', { max_tokens: 10 }, 7)).toEqual({ tokens: 10, stated: true });
    expect(outputCeiling('/v1/responses', { max_output_tokens: 30 }, 7)).toEqual({ tokens: 30, stated: true });
    expect(outputCeiling('/v1/completions', {}, 7)).toEqual({ tokens: 7, stated: false });
    expect(outputCeiling('/v1/embeddings', { max_tokens: 10 }, 7)).toEqual({ tokens: 0, stated: true });
  });
});
