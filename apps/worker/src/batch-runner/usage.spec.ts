import { describe, expect, it } from 'vitest';
import { NO_USAGE, usageOf } from './usage';

describe('usageOf', () => {
  it('reads chat completion usage with details', () => {
    expect(
      usageOf({
        usage: {
          prompt_tokens: 20,
          completion_tokens: 5,
          total_tokens: 25,
          prompt_tokens_details: { cached_tokens: 4 },
          completion_tokens_details: { reasoning_tokens: 2 },
        },
      }),
    ).toEqual({ inputTokens: 20, cachedTokens: 4, outputTokens: 5, reasoningTokens: 2 });
  });

  it('reads responses-API usage and embeddings usage', () => {
    expect(
      usageOf({
        usage: {
          input_tokens: 9,
          output_tokens: 3,
          input_tokens_details: { cached_tokens: 1 },
          output_tokens_details: { reasoning_tokens: 1 },
        },
      }),
    ).toEqual({ inputTokens: 9, cachedTokens: 1, outputTokens: 3, reasoningTokens: 1 });
    expect(usageOf({ usage: { prompt_tokens: 7, total_tokens: 7 } })).toEqual({ ...NO_USAGE, inputTokens: 7 });
  });

  it('reads gpt-image-1 images usage (text and image input together) and counts none for a video object', () => {
    expect(
      usageOf({
        created: 1,
        data: [{ b64_json: 'iVBOR' }],
        usage: {
          input_tokens: 400,
          input_tokens_details: { text_tokens: 12, image_tokens: 388 },
          output_tokens: 1056,
          total_tokens: 1456,
        },
      }),
    ).toEqual({ ...NO_USAGE, inputTokens: 400, outputTokens: 1056 });
    expect(usageOf({ id: 'video_1', object: 'video', status: 'completed', seconds: '4' })).toEqual(NO_USAGE);
  });

  it('ignores missing or malformed usage', () => {
    expect(usageOf({ results: [] })).toEqual(NO_USAGE);
    expect(usageOf(null)).toEqual(NO_USAGE);
    expect(usageOf({ usage: { prompt_tokens: 'many', completion_tokens: -3 } })).toEqual(NO_USAGE);
  });
});
