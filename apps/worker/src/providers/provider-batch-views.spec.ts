import { describe, expect, it } from 'vitest';
import { AnthropicBatchApi } from './anthropic/anthropic-batch-api';
import { OpenAiBatchApi } from './openai/openai-batch-api';
import { ProviderAwayError, type ProviderHttp } from './provider-http';

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

/** Together's copy of OpenAI's Batch API, as its reference shows it: a create answer wrapped in `job`, capitals. */
describe('Provider batch views: Together', () => {
  const job = {
    id: '01234567-8901-2345-6789-012345678901',
    status: 'IN_PROGRESS',
    created_at: '2026-12-08T14:30:00Z',
    output_file_id: null,
    error_file_id: null,
    progress: 75,
    metadata: { venna_batch_id: 'batch_1', venna_shard: '0', venna_stage: '0' },
  };
  const submission = {
    endpoint: '/v1/chat/completions',
    completionWindow: '24h',
    tag: { batchId: 'batch_1', shard: 0, stage: 0 },
    requestCount: 3,
    fileId: 'file-input',
    uploadedSince: null,
    onFileUploaded: () => Promise.resolve(),
    lines: () => ({ async *[Symbol.asyncIterator]() {} }),
  };

  it('reads the created batch from its `job` wrapper', async () => {
    expect(await new OpenAiBatchApi(answering({ job, warning: 'model is in preview' })).submit(submission)).toBe(
      job.id,
    );
  });

  it('reads statuses in capitals: running, then ended', async () => {
    const view = (status: string) => new OpenAiBatchApi(answering({ ...job, status })).retrieve(job.id);
    expect(await view('IN_PROGRESS')).toMatchObject({ status: 'in_progress', ended: false });
    expect(await view('COMPLETED')).toMatchObject({ status: 'completed', ended: true, failed: null });
    expect(await view('FAILED')).toMatchObject({ ended: true, failed: { quotaFull: false } });
  });

  it('finds a batch in a bare list with ISO times, and stops at the list end', async () => {
    const since = new Date('2026-12-08T14:29:00Z');
    expect(await new OpenAiBatchApi(answering([job])).find(submission, since)).toBe(job.id);
    const other = { ...job, metadata: { venna_batch_id: 'batch_2', venna_shard: '0', venna_stage: '0' } };
    expect(await new OpenAiBatchApi(answering([other])).find(submission, since)).toBeNull();
  });

  it('treats a create answer without an id as the provider away, to be looked for by its metadata', async () => {
    await expect(new OpenAiBatchApi(answering({ warning: 'busy' })).submit(submission)).rejects.toBeInstanceOf(
      ProviderAwayError,
    );
  });
});
