import { describe, expect, it } from 'vitest';
import { resultLineOf } from './openai-result-line';

const line = (text: string) => resultLineOf(Buffer.from(text));

describe('resultLineOf (a line of an OpenAI output or error file)', () => {
  it('keeps the body of an answer as the provider wrote it, spaced as OpenAI writes its files', () => {
    const body = '{"z": 1.0, "a": "caf\\u00e9", "usage": {"prompt_tokens": 3, "completion_tokens": 4}}';
    const parsed = line(
      `{"id": "batch_req_1", "custom_id": "line-42", "response": {"status_code": 200, "request_id": "req_9", "body": ${body}}, "error": null}`,
    );
    expect(parsed).toEqual({
      kind: 'answered',
      lineNumber: 42,
      outcome: {
        kind: 'response',
        statusCode: 200,
        requestId: 'req_9',
        body: JSON.parse(body) as unknown,
        json: body,
        attempts: 1,
      },
    });
  });

  it('finds the body even when it holds the text that ends a line', () => {
    const body = '{"text":"},\\"error\\":null}"}';
    const parsed = line(
      `{"id":"batch_req_1","custom_id":"line-1","response":{"status_code":200,"request_id":"r","body":${body}},"error":null}`,
    );
    expect(parsed?.kind === 'answered' && parsed.outcome.kind === 'response' && parsed.outcome.json).toBe(body);
  });

  it('parses a line laid out otherwise in full, and re-encodes its body', () => {
    const parsed = line(
      '{"custom_id":"line-7","id":"x","response":{"body":{"ok":true},"status_code":201},"error":null,"extra":1}',
    );
    expect(parsed).toMatchObject({
      kind: 'answered',
      lineNumber: 7,
      outcome: { kind: 'response', statusCode: 201, body: { ok: true }, json: null },
    });
  });

  it('does not take a body with more after it in the response for the body', () => {
    const parsed = line(
      '{"id":"x","custom_id":"line-3","response":{"status_code":200,"request_id":"r","body":{"a":1},"more":2},"error":null}',
    );
    expect(parsed).toMatchObject({ lineNumber: 3, outcome: { body: { a: 1 }, json: null } });
  });

  it('re-encodes a body spread over line breaks, which a journal line cannot hold', () => {
    const parsed = line(
      '{"id":"x","custom_id":"line-3","response":{"status_code":200,"request_id":"r","body":{"a":\r1}},"error":null}',
    );
    expect(parsed).toMatchObject({ outcome: { body: { a: 1 }, json: null } });
  });

  it('reads expired, cancelled and failed lines from the error', () => {
    const errorLine = (code: string) =>
      line(`{"id":"x","custom_id":"line-5","response":null,"error":{"code":"${code}","message":"m"}}`);
    expect(errorLine('batch_expired')).toEqual({ kind: 'expired', lineNumber: 5 });
    expect(errorLine('batch_cancelled')).toEqual({ kind: 'cancelled', lineNumber: 5 });
    expect(errorLine('server_error')).toEqual({
      kind: 'answered',
      lineNumber: 5,
      outcome: { kind: 'error', code: 'server_error', message: 'm', attempts: 1 },
    });
  });

  it('ignores lines that are not ours or not JSON', () => {
    expect(
      line('{"id":"x","custom_id":"request-1","response":{"status_code":200,"request_id":"r","body":{}},"error":null}'),
    ).toBeNull();
    expect(line('{"id":"x","custom_id":"line-1","response":{"status_code":200,')).toBeNull();
  });
});
