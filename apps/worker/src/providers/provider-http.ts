import { Readable } from 'node:stream';
import { type Dispatcher, errors as undiciErrors, request } from 'undici';
import { type Upstream, upstreamHeaders, upstreamUrl } from '../upstream/upstream-routes';

/** The provider cannot answer now (5xx, 429, 408, a timeout, no connection): try again later, never fail a line for it. */
export class ProviderAwayError extends Error {}

/** The provider refused what we sent (a 4xx other than 408/429): it will refuse it again. */
export class ProviderRefusedError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: unknown,
  ) {
    super(`The provider answered ${statusCode}: ${messageOf(body)}`);
  }
}

type Body = string | Readable | null;

export type ProviderCallOutcome = 'ok' | 'error' | 'refused';

/** An error of the connection itself (reset, closed, timed out mid-body), as undici and Node raise them. */
export function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    error instanceof undiciErrors.UndiciError ||
    (typeof code === 'string' && /^(UND_ERR|ECONN|EPIPE|ETIMEDOUT|EAI_AGAIN)/.test(code))
  );
}

/**
 * HTTP to one upstream's Batch API, with its credentials, headers and query parameters. Classifies every
 * failure as away (retry later) or refused; knows no protocol.
 */
export class ProviderHttp {
  constructor(
    readonly upstream: Upstream,
    private readonly dispatcher: Dispatcher,
    private readonly timeoutMs: number,
    /** Told how each request ended: answered, the provider away, or refused. */
    private readonly counted: (outcome: ProviderCallOutcome) => void,
  ) {}

  /** A JSON request whose answer is JSON. */
  async json<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown, contentType?: string): Promise<T> {
    const payload: Body =
      body === undefined ? null : body instanceof Readable || typeof body === 'string' ? body : JSON.stringify(body);
    const response = await this.send(method, path, payload, contentType ?? 'application/json');
    const text = await response.body.text().catch((error: Error) => {
      throw new ProviderAwayError(`The provider's answer was cut short: ${error.message}`);
    });
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ProviderAwayError(`The provider answered ${response.statusCode} with a body that is not JSON`);
    }
  }

  /** A GET whose answer is streamed (result files); `url` may be absolute (Anthropic's results_url). */
  async stream(url: string): Promise<Readable> {
    const response = await this.send('GET', url, null);
    return response.body;
  }

  private async send(
    method: Dispatcher.HttpMethod,
    pathOrUrl: string,
    body: Body,
    contentType?: string,
  ): Promise<Dispatcher.ResponseData> {
    try {
      const response = await this.answer(method, pathOrUrl, body, contentType);
      this.counted('ok');
      return response;
    } catch (error) {
      this.counted(error instanceof ProviderRefusedError ? 'refused' : 'error');
      throw error;
    }
  }

  private async answer(
    method: Dispatcher.HttpMethod,
    pathOrUrl: string,
    body: Body,
    contentType?: string,
  ): Promise<Dispatcher.ResponseData> {
    const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : upstreamUrl(this.upstream, pathOrUrl);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method,
        dispatcher: this.dispatcher,
        headers: {
          accept: 'application/json',
          ...(body !== null && contentType ? { 'content-type': contentType } : {}),
          ...upstreamHeaders(this.upstream),
        },
        body,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (error) {
      const timedOut =
        error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError;
      // The cause (addresses, ports) goes to the debug log through the message, never into a customer's file.
      throw new ProviderAwayError(
        timedOut ? `No answer within ${this.timeoutMs} ms` : `Unreachable: ${(error as Error).message}`,
      );
    }
    const { statusCode } = response;
    if (statusCode >= 200 && statusCode < 300) {
      return response;
    }
    const text = await response.body.text().catch(() => '');
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: the status says enough
    }
    if (statusCode === 408 || statusCode === 409 || statusCode === 429 || statusCode >= 500) {
      throw new ProviderAwayError(`The provider answered ${statusCode}: ${messageOf(parsed)}`);
    }
    throw new ProviderRefusedError(statusCode, parsed);
  }
}

function messageOf(body: unknown): string {
  const error = (body as { error?: { message?: unknown } } | null)?.error;
  const message = typeof error?.message === 'string' ? error.message : typeof body === 'string' ? body : '';
  return message.slice(0, 300) || '(no message)';
}
