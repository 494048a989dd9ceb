import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, errors as undiciErrors, request } from 'undici';
import { WorkerEnvironment } from '../config/worker-environment';
import { backoffDelayMs, isRetryableStatus, retryAfterMs, type RetryPolicyOptions } from './retry-policy';
import { type Congestion, UpstreamLimiter } from './upstream-limiter';
import { upstreamUrl, UpstreamRoutes } from './upstream-routes';

export type UpstreamOutcome =
  | {
      kind: 'response';
      statusCode: number;
      requestId: string;
      body: unknown;
      /** The body exactly as received when it is JSON on a single line, so it can be copied without re-encoding. */
      json: string | null;
      attempts: number;
    }
  | { kind: 'error'; code: string; message: string; attempts: number };

/** Raised when the caller's stop signal fires while a retry is waiting: the request counts as not executed. */
export class UpstreamAbandonedError extends Error {}

/**
 * Sends one batch line to its OpenAI-compatible upstream over pooled keep-alive connections,
 * within the upstream's shared concurrency limit, retrying 408/429/5xx and network failures with
 * backoff. Knows HTTP, not batches.
 */
@Injectable()
export class UpstreamClient implements OnModuleDestroy {
  private readonly agent: Agent;
  private readonly retry: RetryPolicyOptions;

  constructor(
    private readonly routes: UpstreamRoutes,
    private readonly limiter: UpstreamLimiter,
    private readonly env: WorkerEnvironment,
  ) {
    this.agent = new Agent({ connections: env.WORKER_CONCURRENCY, keepAliveTimeout: 30_000, pipelining: 1 });
    this.retry = {
      maxAttempts: env.UPSTREAM_MAX_ATTEMPTS,
      baseDelayMs: env.UPSTREAM_RETRY_BASE_MS,
      maxDelayMs: env.UPSTREAM_RETRY_MAX_MS,
    };
  }

  async send(model: string, lineUrl: string, body: unknown, stop: AbortSignal): Promise<UpstreamOutcome> {
    const upstream = this.routes.for(model);
    const url = upstreamUrl(upstream.baseUrl, lineUrl);
    const payload = JSON.stringify(body);
    for (let attempt = 1; ; attempt++) {
      const lease = await this.limiter.acquire(upstream, stop);
      if (!lease) {
        throw new UpstreamAbandonedError('Stopped while waiting for an upstream slot');
      }
      const outcome = await this.attempt(url, upstream.apiKey, payload, attempt);
      this.limiter.release(upstream, lease, congestionOf(outcome.result), outcome.hintMs);
      const last = attempt >= this.retry.maxAttempts;
      if (outcome.retryable === false || last) {
        return outcome.result;
      }
      try {
        await sleep(backoffDelayMs(attempt, this.retry, outcome.hintMs), undefined, { signal: stop });
      } catch {
        throw new UpstreamAbandonedError('Stopped while waiting to retry');
      }
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.agent.close();
  }

  private async attempt(
    url: string,
    apiKey: string | undefined,
    payload: string,
    attempt: number,
  ): Promise<{ result: UpstreamOutcome; retryable: boolean; hintMs: number | null }> {
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
        },
        body: payload,
        headersTimeout: this.env.UPSTREAM_TIMEOUT_MS,
        bodyTimeout: this.env.UPSTREAM_TIMEOUT_MS,
      });
      const text = await response.body.text();
      const requestId = String(response.headers['x-request-id'] ?? `req_${crypto.randomUUID().replaceAll('-', '')}`);
      const { body, json } = parseBody(text);
      return {
        result: { kind: 'response', statusCode: response.statusCode, requestId, body, json, attempts: attempt },
        retryable: isRetryableStatus(response.statusCode),
        hintMs: retryAfterMs(response.headers),
      };
    } catch (error) {
      const timedOut =
        error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError;
      return {
        result: {
          kind: 'error',
          code: timedOut ? 'request_timeout' : 'upstream_unreachable',
          message: timedOut
            ? `The upstream did not answer within ${this.env.UPSTREAM_TIMEOUT_MS} ms.`
            : `The upstream could not be reached: ${(error as Error).message}`,
          attempts: attempt,
        },
        retryable: true,
        hintMs: null,
      };
    }
  }
}

/** 429, 503 and timeouts say the upstream is at capacity; other answers say it coped. */
function congestionOf(result: UpstreamOutcome): Congestion {
  if (result.kind === 'error') {
    return result.code === 'request_timeout' ? 'congested' : 'neutral';
  }
  if (result.statusCode === 429 || result.statusCode === 503) {
    return 'congested';
  }
  return result.statusCode < 500 ? 'clean' : 'neutral';
}

function parseBody(text: string): { body: unknown; json: string | null } {
  try {
    const body: unknown = JSON.parse(text);
    return { body, json: /[\r\n]/.test(text) ? null : text.trim() };
  } catch {
    return {
      body: { error: { message: text.slice(0, 2000), type: 'upstream_error', param: null, code: null } },
      json: null,
    };
  }
}
