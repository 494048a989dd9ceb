import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultUpstream, upstreamHeaders, upstreamUrl, UpstreamRoutes } from './upstream-routes';

const fallback = defaultUpstream('http://default/v1', 'k0');

function routingFile(name: string, content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'routes-')), name);
  writeFileSync(path, content);
  return path;
}

describe('UpstreamRoutes', () => {
  it('routes models by the first matching pattern, else to the default', () => {
    const path = routingFile(
      'routes.yaml',
      'upstreams:\n  - match: "llama*"\n    base_url: http://vllm:8000/v1\n    max_concurrency: 12\n  - match: gpt-4o\n    base_url: https://openai/v1\n    api_key_env: OPENAI_KEY\n',
    );
    const routes = UpstreamRoutes.load(fallback, path, { OPENAI_KEY: 'sk-1' });
    expect(routes.for('llama-3.1-8b')).toMatchObject({
      baseUrl: 'http://vllm:8000/v1',
      apiKey: undefined,
      maxConcurrency: 12,
    });
    expect(routes.for('gpt-4o')).toMatchObject({ baseUrl: 'https://openai/v1', apiKey: 'sk-1' });
    expect(routes.for('gpt-4o-mini')).toBe(fallback);
  });

  it('reads JSON and refuses a rule whose key variable is unset', () => {
    const path = routingFile(
      'routes.json',
      JSON.stringify({ upstreams: [{ match: '*', base_url: 'http://x/v1', api_key_env: 'NOPE' }] }),
    );
    expect(() => UpstreamRoutes.load(fallback, path, {})).toThrow(/NOPE/);
    const zero = routingFile(
      'zero.json',
      JSON.stringify({ upstreams: [{ match: '*', base_url: 'http://x/v1', max_concurrency: 0 }] }),
    );
    expect(() => UpstreamRoutes.load(fallback, zero, {})).toThrow(/max_concurrency/);
  });

  it('joins the base URL and the line url without doubling /v1', () => {
    const at = (baseUrl: string, query: Record<string, string> = {}) => ({ baseUrl, query });
    expect(upstreamUrl(at('http://host:8000/v1/'), '/v1/chat/completions')).toBe(
      'http://host:8000/v1/chat/completions',
    );
    expect(upstreamUrl(at('https://gw/openai/v1'), '/v1/embeddings')).toBe('https://gw/openai/v1/embeddings');
    expect(upstreamUrl(at('https://az/openai/v1', { 'api-version': '2025-04-01-preview' }), '/batches?limit=2')).toBe(
      'https://az/openai/v1/batches?limit=2&api-version=2025-04-01-preview',
    );
  });

  it("reads the native batch keys, with each protocol's caps and credentials as defaults", () => {
    const path = routingFile(
      'native.yaml',
      [
        'upstreams:',
        '  - match: "claude-*"',
        '    name: anthropic',
        '    base_url: https://api.anthropic.com/v1',
        '    api_key_env: ANTHROPIC_KEY',
        '    batch: native',
        '    protocol: anthropic',
        '    fallback: [online]',
        '  - match: "gpt-*"',
        '    name: azure',
        '    base_url: https://res.openai.azure.com/openai/v1',
        '    batch: native',
        '    headers: { api-key: az-secret }',
        '    query: { api-version: preview }',
        '    max_batch_requests: 1000',
        '    max_batch_bytes: 5000000',
        '    keep_provider_files: true',
        '  - match: "online-*"',
        '    name: online',
        '    base_url: http://vllm/v1',
      ].join('\n'),
    );
    const routes = UpstreamRoutes.load(fallback, path, { ANTHROPIC_KEY: 'sk-ant' });
    const anthropic = routes.for('claude-sonnet-4');
    expect(anthropic).toMatchObject({
      name: 'anthropic',
      batch: 'native',
      protocol: 'anthropic',
      maxBatchRequests: 100_000,
      maxBatchBytes: 256_000_000,
      keepProviderFiles: false,
    });
    expect(upstreamHeaders(anthropic)).toEqual({ 'x-api-key': 'sk-ant', 'anthropic-version': '2023-06-01' });
    expect(routes.chainFor('claude-sonnet-4').map((upstream) => upstream.name)).toEqual(['anthropic', 'online']);
    const azure = routes.for('gpt-4o');
    expect(azure).toMatchObject({ protocol: 'openai', maxBatchRequests: 1000, maxBatchBytes: 5_000_000 });
    expect(azure.keepProviderFiles).toBe(true);
    expect(upstreamHeaders(azure)).toEqual({ 'api-key': 'az-secret' });
    expect(routes.for('online-x')).toMatchObject({ batch: 'execute', protocol: 'openai', fallback: [] });
    expect(routes.chainFor('other')).toEqual([fallback]);
  });

  it.each([
    [{ match: '*', base_url: 'http://x/v1', bacth: 'native' }, /unknown key\(s\): bacth/],
    [{ match: '*', base_url: 'http://x/v1', batch: 'offline' }, /"batch" must be one of execute, native/],
    [{ match: '*', base_url: 'http://x/v1', protocol: 'gemini' }, /"protocol" must be one of openai, anthropic/],
    [{ match: '*', base_url: 'http://x/v1', max_batch_requests: 0 }, /"max_batch_requests" is not a whole number/],
    [{ match: '*', base_url: 'http://x/v1', max_batch_bytes: 1.5 }, /"max_batch_bytes" is not a whole number/],
    [{ match: '*', base_url: 'http://x/v1', headers: { a: 1 } }, /"headers" must map names to strings/],
    [{ match: '*', base_url: 'http://x/v1', query: ['x'] }, /"query" must map names to strings/],
    [
      { match: '*', base_url: 'http://x/v1', keep_provider_files: 'yes' },
      /"keep_provider_files" must be true or false/,
    ],
    [{ match: '*', base_url: 'http://x/v1', fallback: 'other' }, /"fallback" must be a list of upstream names/],
    [
      { match: '*', base_url: 'http://x/v1', fallback: ['nobody'] },
      /falls back to "nobody", which no upstream is named/,
    ],
    [{ match: '*', name: 'me', base_url: 'http://x/v1', fallback: ['me'] }, /falls back to "me", itself/],
    [{ match: '*', name: 'default', base_url: 'http://x/v1' }, /the name "default" is used twice/],
  ])('stops at start-up on %j', (entry, message) => {
    const path = routingFile('bad.json', JSON.stringify({ upstreams: [entry] }));
    expect(() => UpstreamRoutes.load(fallback, path, {})).toThrow(message);
  });

  it('refuses an executing upstream that falls back to a native one', () => {
    const path = routingFile(
      'cross.json',
      JSON.stringify({
        upstreams: [
          { match: 'a', name: 'online', base_url: 'http://x/v1', fallback: ['native'] },
          { match: 'b', name: 'native', base_url: 'http://y/v1', batch: 'native' },
        ],
      }),
    );
    expect(() => UpstreamRoutes.load(fallback, path, {})).toThrow(/cannot fall back to the native upstream "native"/);
  });
});
