import { describe, expect, it } from 'vitest';
import { AnthropicBatchApi } from './anthropic/anthropic-batch-api';
import { OpenAiBatchApi } from './openai/openai-batch-api';
import type { ProviderHttp } from './provider-http';

/** A provider that answers every call with `answer`. */
const answering = (answer: unknown) => ({ json: () => Promise.resolve(answer) }) as unknown as ProviderHttp;

const openAi = (
  status: string,
  counts: { total: number; completed: number; failed: number } | null,
  errors: { code: string; message: string }[] | null = null,
) =>
  new OpenAiBatchApi(
    answering({
      id: 'batch_1',
      status,
      created_at: 0,
      output_file_id: null,
      error_file_id: null,
      errors: errors && { object: 'list', data: errors },
      request_counts: counts,
      metadata: null,
    }),
  ).retrieve('batch_1');

const anthropic = (processing_status: string, processing: number) =>
  new AnthropicBatchApi(
    answering({
      id: 'msgbatch_1',
      processing_status,
      request_counts: { processing, succeeded: 3, errored: 1, canceled: 0, expired: 0 },
      created_at: new Date(0).toISOString(),
      results_url: null,
    }),
    1024,
  ).retrieve('msgbatch_1');

/** A provider batch about to end is polled more often: its view says so, by the protocol's own signs. */
describe('Provider batch views: finishing', () => {
  it('OpenAI: finalizing, or every request counted while still in progress', async () => {
    expect((await openAi('finalizing', { total: 4, completed: 1, failed: 0 })).finishing).toBe(true);
    expect((await openAi('in_progress', { total: 4, completed: 3, failed: 1 })).finishing).toBe(true);
    expect((await openAi('in_progress', { total: 4, completed: 3, failed: 0 })).finishing).toBe(false);
    expect((await openAi('validating', { total: 0, completed: 0, failed: 0 })).finishing).toBe(false);
    expect((await openAi('in_progress', null)).finishing).toBe(false);
    expect((await openAi('completed', { total: 4, completed: 4, failed: 0 })).finishing).toBe(false);
  });

  it('Anthropic: nothing left processing before the batch has ended', async () => {
    expect((await anthropic('in_progress', 0)).finishing).toBe(true);
    expect((await anthropic('canceling', 0)).finishing).toBe(true);
    expect((await anthropic('in_progress', 2)).finishing).toBe(false);
    expect((await anthropic('ended', 0)).finishing).toBe(false);
  });
});

describe('Provider batch views: failed as a whole', () => {
  const limit = { code: 'token_limit_exceeded', message: 'Enqueued token limit reached for gpt-4o-mini.' };
  const invalid = { code: 'invalid_json_line', message: 'Line 3 is not valid JSON.' };

  it("OpenAI: token_limit_exceeded alone is the provider's quota, to be tried again; other failures are final", async () => {
    expect((await openAi('failed', null, [limit])).failed).toEqual({ message: limit.message, quotaFull: true });
    expect((await openAi('failed', null, [limit, limit])).failed).toEqual({ message: limit.message, quotaFull: true });
    // Its validation failed too: sent again, it would fail again.
    expect((await openAi('failed', null, [invalid, limit])).failed).toEqual({
      message: invalid.message,
      quotaFull: false,
    });
    expect((await openAi('failed', null, [invalid])).failed).toEqual({ message: invalid.message, quotaFull: false });
    expect((await openAi('completed', null, [limit])).failed).toBeNull();
  });
});
