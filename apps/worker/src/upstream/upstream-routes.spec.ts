import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { upstreamUrl, UpstreamRoutes } from './upstream-routes';

const fallback = { baseUrl: 'http://default/v1', apiKey: 'k0' };

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
    expect(upstreamUrl('http://host:8000/v1/', '/v1/chat/completions')).toBe('http://host:8000/v1/chat/completions');
    expect(upstreamUrl('https://gw/openai/v1', '/v1/embeddings')).toBe('https://gw/openai/v1/embeddings');
  });
});
