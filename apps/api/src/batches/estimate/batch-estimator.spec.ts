import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readLines } from '@app/core';
import { tallyTokens } from './batch-estimator';

const endpoint = '/v1/chat/completions';
const request = (id: string, body: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: endpoint,
    body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hello world' }], ...body },
    ...extra,
  });

const tally = (lines: string[], maxRequests = 50_000) =>
  tallyTokens(readLines(Readable.from([Buffer.from(lines.join('\n'))]), 1 << 20), {
    endpoint,
    maxRequests,
    defaultMaxOutputTokens: 5,
  });

const codesAndLines = (problems: { code: string; line: number | null }[]) =>
  problems.map(({ code, line }) => [code, line]);

describe('tallyTokens', () => {
  it('sums valid requests per model, skipping blank lines and applying the default ceiling', async () => {
    const result = await tally([
      request('a', { max_tokens: 10 }),
      '   ',
      request('b'),
      request('c', { model: 'gpt-4' }),
      '',
    ]);
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ requestCount: 3, inputTokens: 27, maxOutputTokens: 20, requestsWithoutCeiling: 2 });
    expect(Object.fromEntries(result.models)).toEqual({
      'gpt-4o': { tokenizer: 'o200k_base', requests: 2, inputTokens: 18, maxOutputTokens: 15 },
      'gpt-4': { tokenizer: 'cl100k_base', requests: 1, inputTokens: 9, maxOutputTokens: 5 },
    });
  });

  // The worker's planInput reports exactly these for this file (checked side by side).
  it('reports what the worker validation reports, with the same codes and lines', async () => {
    const result = await tally([
      '{not json',
      request('a'),
      request('a'),
      request('b', {}, { url: '/v1/embeddings' }),
      request('c', {}, { method: 'GET' }),
      request('d', { model: '' }),
      request('e', { stream: true }),
      '[1]',
    ]);
    expect(codesAndLines(result.problems)).toEqual([
      ['invalid_json_line', 1],
      ['duplicate_custom_id', 3],
      ['url_mismatch', 4],
      ['invalid_request', 5],
      ['missing_required_parameter', 6],
      ['invalid_request', 7],
      ['invalid_json_line', 8],
    ]);
  });

  it('reports too many requests and an empty file', async () => {
    expect(codesAndLines((await tally([request('a'), request('b'), request('c')], 2)).problems)).toEqual([
      ['too_many_tasks', 3],
    ]);
    expect(codesAndLines((await tally(['', '  '])).problems)).toEqual([['empty_file', null]]);
  });
});
