import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, errors as undiciErrors, request } from 'undici';
import { redactUrl } from '@app/core';
import { ResultErrorCode } from '../batch-runner/result-error-code';
import { WorkerEnvironment } from '../config/worker-environment';
import { type UpstreamCallOutcome, type UpstreamMeter, WorkerMetrics } from '../monitoring/worker-metrics';
import {
  backoffDelayMs,
  isRetriableFailure,
  isRetryableStatus,
  retryAfterMs,
  type RetryPolicyOptions,
} from './retry-policy';
import { type Congestion, UpstreamLimiter } from './upstream-limiter';
import { type Upstream, upstreamHeaders, upstreamUrl } from './upstream-routes';

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
  | { kind: 'error'; code: ResultErrorCode; message: string; attempts: number };

/** Raised when the caller's stop signal fires while a retry is waiting: the request counts as not executed. */
export class UpstreamAbandonedError extends Error {}

/**
 * Sends one batch line to its OpenAI-compatible upstream over pooled keep-alive connections,
 * within the upstream's shared concurrency limit, retrying 408/429/5xx and network failures with
 * backoff. Knows HTTP, not batches.
 */
@Injectable()
export class UpstreamClient implements OnModuleDestroy {
  private readonly logger = new Logger(UpstreamClient.name);
  private readonly agent: Agent;
  private readonly retry: RetryPolicyOptions;

  constructor(
    private readonly limiter: UpstreamLimiter,
    private readonly env: WorkerEnvironment,
    private readonly metrics: WorkerMetrics,
  ) {
    this.agent = new Agent({ connections: env.WORKER_CONCURRENCY, keepAliveTimeout: 30_000, pipelining: 1 });
    this.retry = {
      maxAttempts: env.UPSTREAM_MAX_ATTEMPTS,
      baseDelayMs: env.UPSTREAM_RETRY_BASE_MS,
      maxDelayMs: env.UPSTREAM_RETRY_MAX_MS,
    };
  }

  /**
   * Sends a line along a fallback chain from `from`: a line an upstream fails for a retriable reason goes to
   * the next one, while they execute. Stops at a native upstream (its provider batch takes the line) and
   * says where it stopped: the index of the upstream that gave the outcome, or of the native one next.
   */
  async sendAlong(
    chain: readonly Upstream[],
    from: number,
    lineUrl: string,
    body: unknown,
    stop: AbortSignal,
  ): Promise<{ outcome: UpstreamOutcome; at: number }> {
    let outcome = await this.send(chain[from], lineUrl, body, stop);
    let at = from;
    while (isRetriableFailure(outcome) && at + 1 < chain.length && !stop.aborted) {
      const [failed, next] = [chain[at], chain[at + 1]];
      this.metrics.fellBack(failed.name, next.name, 1);
      if (next.batch === 'native') {
        return { outcome, at: at + 1 };
      }
      this.logger.log(`A line ${failed.name} failed (${describe(outcome)}) goes to its fallback ${next.name}`);
      outcome = await this.send(next, lineUrl, body, stop);
      at++;
    }
    return { outcome, at };
  }

  async send(upstream: Upstream, lineUrl: string, body: unknown, stop: AbortSignal): Promise<UpstreamOutcome> {
    const url = upstreamUrl(upstream, lineUrl);
    const payload = serialised(body);
    if (payload === null) {
      return {
        kind: 'error',
        code: ResultErrorCode.UnserializableRequest,
        message: 'The request body could not be serialised to JSON (it nests too deeply), so it was not sent.',
        attempts: 0,
      };
    }
    const meter = this.metrics.upstream(upstream.baseUrl);
    // A 429 or 503 says the upstream is busy, not that the request is bad: like any other dependency being away,
    // it pauses the line (the shared limit shrinks, retry-after is honoured) without spending the attempts meant
    // for failures. Only the batch's end (cancel, expiry, drain) stops a line that the upstream keeps refusing.
    let failures = 0;
    for (let attempt = 1; ; attempt++) {
      const lease = await this.limiter.acquire(upstream, stop);
      if (!lease) {
        throw new UpstreamAbandonedError('Stopped while waiting for an upstream slot');
      }
      const outcome = await this.measured(meter, () => this.attempt(url, upstreamHeaders(upstream), payload, attempt));
      this.limiter.release(upstream, lease, congestionOf(outcome.result), outcome.hintMs);
      if (!isBusy(outcome.result)) {
        failures++;
      }
      if (outcome.retryable === false || failures >= this.retry.maxAttempts) {
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

  /** One exchange, counted in its upstream's instruments. */
  private async measured<T extends { result: UpstreamOutcome }>(
    meter: UpstreamMeter,
    exchange: () => Promise<T>,
  ): Promise<T> {
    const started = performance.now();
    meter.inFlight.inc();
    try {
      const outcome = await exchange();
      meter.calls[callOutcomeOf(outcome.result)].inc();
      return outcome;
    } finally {
      meter.inFlight.dec();
      meter.duration.observe((performance.now() - started) / 1000);
    }
  }

  private async attempt(
    url: string,
    headers: Record<string, string>,
    payload: string,
    attempt: number,
  ): Promise<{ result: UpstreamOutcome; retryable: boolean; hintMs: number | null }> {
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
        body: payload,
        headersTimeout: this.env.UPSTREAM_TIMEOUT_MS,
        bodyTimeout: this.env.UPSTREAM_TIMEOUT_MS,
      });
      const text = await response.body.text();
      const requestId = String(response.headers['x-request-id'] ?? `req_${crypto.randomUUID().replaceAll('-', '')}`);
      const parsed = parseBody(text);
      const { statusCode } = response;
      if (!parsed && statusCode >= 200 && statusCode < 300) {
        // A success must carry the answer: a body that is not JSON (cut short, an HTML page) is not one.
        const message = `The upstream answered ${statusCode} with a body that is not JSON.`;
        return {
          result: { kind: 'error', code: ResultErrorCode.InvalidUpstreamResponse, message, attempts: attempt },
          retryable: true,
          hintMs: null,
        };
      }
      const { body, json } = parsed ?? notJson(statusCode);
      return {
        result: { kind: 'response', statusCode, requestId, body, json, attempts: attempt },
        retryable: isRetryableStatus(statusCode),
        // Capped here, not only for this line's wait: the limiter pauses every worker for this long.
        hintMs: capped(retryAfterMs(response.headers), this.retry.maxDelayMs),
      };
    } catch (error) {
      const timedOut =
        error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError;
      this.logger.debug(`Attempt ${attempt} to ${redactUrl(url)} failed: ${(error as Error).message}`);
      return {
        result: {
          kind: 'error',
          code: timedOut ? ResultErrorCode.RequestTimeout : ResultErrorCode.UpstreamUnreachable,
          message: timedOut
            ? `The upstream did not answer within ${this.env.UPSTREAM_TIMEOUT_MS} ms.`
            : // The cause (addresses, ports) is for the operator's debug log, not the customer's error file.
              'The upstream could not be reached.',
          attempts: attempt,
        },
        retryable: true,
        hintMs: null,
      };
    }
  }
}

/**
 * The body as JSON text, or null when JSON.stringify cannot write it (a RangeError: nesting that overflows the
 * stack). That line then fails alone: thrown, the error would fail its whole chunk job, on every attempt.
 */
function serialised(body: unknown): string | null {
  try {
    return JSON.stringify(body);
  } catch (error) {
    if (error instanceof RangeError) {
      return null;
    }
    throw error;
  }
}

const describe = (outcome: UpstreamOutcome): string =>
  outcome.kind === 'error' ? outcome.code : `status ${outcome.statusCode}`;

function callOutcomeOf(result: UpstreamOutcome): UpstreamCallOutcome {
  if (result.kind === 'error') {
    switch (result.code) {
      case ResultErrorCode.RequestTimeout:
        return 'timeout';
      case ResultErrorCode.InvalidUpstreamResponse:
        return 'invalid_body';
      default:
        return 'unreachable';
    }
  }
  if (result.statusCode === 429) {
    return '429';
  }
  return result.statusCode >= 500 ? '5xx' : result.statusCode >= 400 ? '4xx' : result.statusCode >= 300 ? '3xx' : '2xx';
}

const capped = (ms: number | null, maxMs: number): number | null => (ms === null ? null : Math.min(ms, maxMs));

/** The upstream refused for lack of capacity (429, 503): it will take the request later. */
const isBusy = (result: UpstreamOutcome): boolean =>
  result.kind === 'response' && (result.statusCode === 429 || result.statusCode === 503);

/** 429, 503 and timeouts say the upstream is at capacity; other answers say it coped. */
function congestionOf(result: UpstreamOutcome): Congestion {
  if (result.kind === 'error') {
    return result.code === ResultErrorCode.RequestTimeout ? 'congested' : 'neutral';
  }
  if (result.statusCode === 429 || result.statusCode === 503) {
    return 'congested';
  }
  return result.statusCode < 500 ? 'clean' : 'neutral';
}

/** The body as JSON, and as received when it is JSON on one line (so it can be copied without re-encoding); null if not JSON. */
function parseBody(text: string): { body: unknown; json: string | null } | null {
  try {
    const body: unknown = JSON.parse(text);
    return { body, json: /[\r\n]/.test(text) ? null : text.trim() };
  } catch {
    return null;
  }
}

/** An error answer whose body is not JSON: its status is kept, its text is not echoed into the customer's file. */
const notJson = (statusCode: number): { body: unknown; json: null } => ({
  body: {
    error: {
      message: `The upstream answered ${statusCode} with a body that is not JSON.`,
      type: 'upstream_error',
      param: null,
      code: null,
    },
  },
  json: null,
});
