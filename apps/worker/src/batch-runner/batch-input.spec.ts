import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readLines } from '@app/core';
import { planInput } from './batch-input';

const endpoint = '/v1/chat/completions';
const request = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ custom_id: id, method: 'POST', url: endpoint, body: { model: 'm1', messages: [] }, ...extra });

const plan = (text: string, maxRequests = 50_000, chunkSize = 2) =>
  planInput(readLines(Readable.from([Buffer.from(text)]), 1 << 20), {
    endpoint,
    maxRequests,
    cutFor: () => ({ maxLines: chunkSize }),
  });

describe('planInput', () => {
  it('plans a valid file into byte-ranged chunks and finds the model', async () => {
    const lines = [request('a'), request('b'), '', request('c')];
    const text = lines.join('\n') + '\n';
    const result = await plan(text);
    expect(result.errors).toEqual([]);
    expect(result.model).toBe('m1');
    expect(result.total).toBe(3);
    expect(result.chunks.map((c) => [c.firstLine, c.lineCount])).toEqual([
      [1, 2],
      [4, 1],
    ]);
    const second = result.chunks[1];
    expect(Buffer.from(text).subarray(second.startByte, second.endByte).toString()).toBe(`${request('c')}\n`);
  });

  it('reports each problem with its line and code', async () => {
    const text = [
      '{not json',
      request('a'),
      request('a'),
      JSON.stringify({ custom_id: 'b', method: 'POST', url: '/v1/embeddings', body: { model: 'm1' } }),
      JSON.stringify({ custom_id: 'c', url: endpoint, body: { model: 'm1' } }),
      request('d', { body: { model: 'm2' } }),
      request('e', { body: { messages: [] } }),
      request('f', { method: 'GET' }),
      request('', {}),
      request('g', { body: { model: 'm1', messages: [], stream: true } }),
    ].join('\n');
    const { errors } = await plan(text);
    expect(errors.map((e) => [e.code, e.line, e.param])).toEqual([
      ['invalid_json_line', 1, null],
      ['duplicate_custom_id', 3, 'custom_id'],
      ['url_mismatch', 4, 'url'],
      ['missing_required_parameter', 5, 'method'],
      ['model_mismatch', 6, 'body.model'],
      ['missing_required_parameter', 7, 'body.model'],
      ['invalid_request', 8, 'method'],
      ['invalid_request', 9, 'custom_id'],
      ['invalid_request', 10, 'body.stream'],
    ]);
  });

  it('refuses too many requests and empty files', async () => {
    expect((await plan([request('a'), request('b'), request('c')].join('\n'), 2)).errors).toEqual([
      expect.objectContaining({ code: 'too_many_tasks', line: 3 }),
    ]);
    expect((await plan('\n\n')).errors).toEqual([expect.objectContaining({ code: 'empty_file', line: null })]);
  });

  it('quotes user values cut short, so the errors of a batch stay small whatever the input', async () => {
    const long = 'x'.repeat(10_000);
    const text = [
      request(long),
      request(long),
      request('u', { url: `/v1/${long}` }),
      request('m', { body: { model: long } }),
    ].join('\n');
    const { errors } = await plan(text);
    expect(errors.map((e) => e.code)).toEqual(['duplicate_custom_id', 'url_mismatch', 'model_mismatch']);
    for (const error of errors) {
      expect(error.message.length).toBeLessThan(300);
    }
  });

  it('refuses a line nested deeper than the limit, naming the line and the limit; exactly the limit passes', async () => {
    // The line's object and its body are two levels; `messages` adds the rest.
    const nested = (id: string, depth: number) =>
      `{"custom_id":"${id}","method":"POST","url":"${endpoint}",` +
      `"body":{"model":"m1","messages":${'['.repeat(depth - 2)}${']'.repeat(depth - 2)}}}`;
    const { errors, total, chunks } = await plan([nested('a', 64), nested('b', 65), nested('c', 20_000)].join('\n'));
    expect(total).toBe(3);
    expect(chunks.map((c) => [c.firstLine, c.lineCount])).toEqual([[1, 1]]);
    expect(errors).toEqual(
      [2, 3].map((line) => ({
        code: 'invalid_json_line',
        message: `Line ${line} nests arrays and objects deeper than 64 levels, the most a request may have.`,
        param: null,
        line,
      })),
    );
  });

  it('keeps at most 100 errors', async () => {
    const { errors } = await plan(Array.from({ length: 150 }, () => '{').join('\n'));
    expect(errors).toHaveLength(100);
  });

  it("cuts shards within a provider's byte cap as well as its request cap", async () => {
    const lines = Array.from({ length: 7 }, (_, i) => request(`r${i}`));
    const text = lines.join('\n') + '\n';
    const perLine = Buffer.byteLength(`${lines[0]}\n`) + 64;
    const cut = (maxLines: number, maxBytes?: number) =>
      planInput(readLines(Readable.from([Buffer.from(text)]), 1 << 20), {
        endpoint,
        maxRequests: 100,
        cutFor: (model) => {
          expect(model).toBe('m1');
          return { maxLines, maxBytes };
        },
      });
    const byBytes = await cut(1000, perLine * 3);
    expect(byBytes.chunks.map((c) => c.lineCount)).toEqual([3, 3, 1]);
    const byLines = await cut(2, perLine * 3);
    expect(byLines.chunks.map((c) => c.lineCount)).toEqual([2, 2, 2, 1]);
    expect(byLines.chunks.map((c) => c.firstLine)).toEqual([1, 3, 5, 7]);
  });

  it("reports the lines the batch's upstream refuses, with their line numbers", async () => {
    const text = [request('a'), request('b', { body: { model: 'm1', n: 2 } }), request('c')].join('\n');
    const result = await planInput(readLines(Readable.from([Buffer.from(text)]), 1 << 20), {
      endpoint,
      maxRequests: 100,
      cutFor: () => ({
        maxLines: 10,
        refuse: (line, lineNumber) =>
          line.body.n === 2
            ? { code: 'invalid_request', message: `Line ${lineNumber}: n`, param: 'body.n', line: lineNumber }
            : null,
      }),
    });
    expect(result.errors).toEqual([{ code: 'invalid_request', message: 'Line 2: n', param: 'body.n', line: 2 }]);
    expect(result.chunks.map((c) => c.lineCount)).toEqual([2]);
  });
});
