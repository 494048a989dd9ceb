import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { redactUrl } from '@app/core';
import type { ProviderCallOutcome } from '../providers/provider-http';

/** How one HTTP exchange with an upstream ended: its status class (429 apart: the congestion signal), or why none came. */
export type UpstreamCallOutcome = '2xx' | '3xx' | '4xx' | '429' | '5xx' | 'invalid_body' | 'timeout' | 'unreachable';

/** One upstream's instruments, labelled once: a request only increments and observes. */
export interface UpstreamMeter {
  inFlight: Gauge.Internal<'upstream'>;
  duration: Histogram.Internal<'upstream'>;
  calls: Record<UpstreamCallOutcome, Counter.Internal>;
}

/** Token counts of newly recorded answers; `cached` is part of `input`, `reasoning` part of `output`, as in OpenAI's usage. */
export interface RecordedTokens {
  input: number;
  cached: number;
  output: number;
  reasoning: number;
}

const OUTCOMES: UpstreamCallOutcome[] = ['2xx', '3xx', '4xx', '429', '5xx', 'invalid_body', 'timeout', 'unreachable'];
const TOKEN_KINDS = ['input', 'cached', 'output', 'reasoning'] as const;

type TokenCounters = Record<(typeof TOKEN_KINDS)[number], Counter.Internal>;

/** The worker's own Prometheus instruments (served on WORKER_HTTP_PORT with the process and queue metrics). */
@Injectable()
export class WorkerMetrics {
  private readonly upstreamCalls: Counter<'upstream' | 'outcome'>;
  private readonly upstreamDuration: Histogram<'upstream'>;
  private readonly upstreamInFlight: Gauge<'upstream'>;
  private readonly lines: Counter<'outcome'>;
  private readonly tokens: Counter<'workspace' | 'kind'>;
  private readonly meters = new Map<string, UpstreamMeter>();
  private readonly tokensByWorkspace = new Map<string, TokenCounters>();
  private readonly providerPolls: Counter<'upstream' | 'outcome'>;
  private readonly fallbacks: Counter<'from' | 'to'>;
  private readonly completedLines: Counter.Internal;
  private readonly failedLines: Counter.Internal;

  constructor(registry: Registry) {
    const registers = [registry];
    this.upstreamCalls = new Counter({
      name: 'venna_upstream_requests_total',
      help: 'HTTP requests sent upstream (every attempt), by upstream and outcome (status class, 429, or why no answer came)',
      labelNames: ['upstream', 'outcome'],
      registers,
    });
    this.upstreamDuration = new Histogram({
      name: 'venna_upstream_request_duration_seconds',
      help: 'Time from sending a request upstream to its whole answer (or its failure), by upstream',
      labelNames: ['upstream'],
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.upstreamInFlight = new Gauge({
      name: 'venna_upstream_in_flight',
      help: 'Requests this worker has in flight to each upstream',
      labelNames: ['upstream'],
      registers,
    });
    this.lines = new Counter({
      name: 'venna_batch_lines_total',
      help: 'Batch lines answered and recorded in the result journal, by outcome (completed or failed, as in request_counts)',
      labelNames: ['outcome'],
      registers,
    });
    this.tokens = new Counter({
      name: 'venna_tokens_total',
      help: 'Tokens of recorded answers, by workspace and kind (cached is part of input, reasoning part of output)',
      labelNames: ['workspace', 'kind'],
      registers,
    });
    this.providerPolls = new Counter({
      name: 'venna_provider_batch_calls_total',
      help: "Requests to a provider's Batch API (upload, create, poll, results, cancel, delete), by upstream and outcome: ok, error (the provider away: polling pauses) or refused (a 4xx answer)",
      labelNames: ['upstream', 'outcome'],
      registers,
    });
    this.fallbacks = new Counter({
      name: 'venna_fallback_lines_total',
      help: 'Lines an upstream failed for a retriable reason and handed to the next upstream of its fallback list',
      labelNames: ['from', 'to'],
      registers,
    });
    this.completedLines = shown(this.lines.labels('completed'));
    this.failedLines = shown(this.lines.labels('failed'));
  }

  /** The instruments of the upstream at `baseUrl`, made on first use (the label never carries credentials). */
  upstream(baseUrl: string): UpstreamMeter {
    let meter = this.meters.get(baseUrl);
    if (!meter) {
      const label = upstreamLabel(baseUrl);
      meter = {
        inFlight: this.upstreamInFlight.labels(label),
        duration: this.upstreamDuration.labels(label),
        calls: Object.fromEntries(
          OUTCOMES.map((outcome) => [outcome, shown(this.upstreamCalls.labels(label, outcome))]),
        ) as UpstreamMeter['calls'],
      };
      this.meters.set(baseUrl, meter);
    }
    return meter;
  }

  /** Counts a group of answers the journal has just recorded (lines recorded before, re-sent after a crash, excluded). */
  recorded(workspaceId: string, completed: number, failed: number, tokens: RecordedTokens): void {
    this.completedLines.inc(completed);
    this.failedLines.inc(failed);
    const counters = this.tokenCountersOf(workspaceId);
    for (const kind of TOKEN_KINDS) {
      if (tokens[kind] > 0) {
        counters[kind].inc(tokens[kind]);
      }
    }
  }

  /** Counts one request to a provider's Batch API. */
  providerCall(upstream: string, outcome: ProviderCallOutcome): void {
    this.providerPolls.labels(upstream, outcome).inc();
  }

  /** Counts lines handed from one upstream to the next of its fallback list. */
  fellBack(from: string, to: string, lines: number): void {
    this.fallbacks.labels(from, to).inc(lines);
  }

  private tokenCountersOf(workspaceId: string): TokenCounters {
    let counters = this.tokensByWorkspace.get(workspaceId);
    if (!counters) {
      counters = Object.fromEntries(
        TOKEN_KINDS.map((kind) => [kind, this.tokens.labels(workspaceId, kind)]),
      ) as TokenCounters;
      this.tokensByWorkspace.set(workspaceId, counters);
    }
    return counters;
  }
}

/** A counter series appears at 0 before its first event, so rates and alerts see it from the start. */
function shown(counter: Counter.Internal): Counter.Internal {
  counter.inc(0);
  return counter;
}

/** scheme://host:port/path of a base URL: as logs show it (no user:password), without its query or a trailing slash. */
const upstreamLabel = (baseUrl: string): string => redactUrl(baseUrl).replace(/\?.*$/, '').replace(/\/$/, '');
