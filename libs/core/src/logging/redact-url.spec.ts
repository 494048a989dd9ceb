import { describe, expect, it } from 'vitest';
import { redactUrl } from './redact-url';

describe('redactUrl', () => {
  it.each([
    ['http://127.0.0.1:4010/v1', 'http://127.0.0.1:4010/v1'],
    ['https://api.openai.com/v1/', 'https://api.openai.com/v1/'],
    ['http://user:s3cret@127.0.0.1:4010/v1', 'http://127.0.0.1:4010/v1'],
    ['http://only-user@host/v1', 'http://host/v1'],
    ['http://:pass@host/v1', 'http://host/v1'],
    ['https://u%40x:p%3Ass@host:8443/openai?api-version=2024-10-21', 'https://host:8443/openai?api-version=[redacted]'],
    [
      'https://host/v1/chat/completions?key=AIza123&alt=json',
      'https://host/v1/chat/completions?key=[redacted]&alt=[redacted]',
    ],
    ['https://host/v1?flag&empty=', 'https://host/v1?flag=[redacted]&empty=[redacted]'],
    ['https://host/v1#access_token=abc', 'https://host/v1'],
    ['http://[::1]:9464/metrics?x=1', 'http://[::1]:9464/metrics?x=[redacted]'],
  ])('%s → %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });

  it('shows nothing of what it cannot parse, as it cannot tell the secret parts apart', () => {
    expect(redactUrl('not a url user:pass@')).toBe('[unparsable URL]');
    expect(redactUrl('')).toBe('[unparsable URL]');
  });
});
