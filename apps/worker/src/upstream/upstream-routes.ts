import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/** `execute`: the worker sends every line to the upstream's online endpoint; `native`: to the provider's own Batch API. */
export type BatchMode = 'execute' | 'native';
/** The wire protocol of a native upstream's Batch API. */
export type BatchProtocol = 'openai' | 'anthropic';

export interface Upstream {
  /** How fallback lists and metrics refer to it. */
  name: string;
  baseUrl: string;
  apiKey: string | undefined;
  /** The most requests it accepts at once across all workers; unset = found by probing. */
  maxConcurrency?: number;
  batch: BatchMode;
  protocol: BatchProtocol;
  /** Sent with every request to it (after the credentials, so they may replace them: Azure's `api-key`). */
  headers: Record<string, string>;
  /** Added to every URL of it (Azure's `api-version`). */
  query: Record<string, string>;
  /** A provider batch's caps: a larger batch is sent as several shards. */
  maxBatchRequests: number;
  maxBatchBytes: number;
  /** Names of the upstreams that re-run a line this one failed for a retriable reason, in order. */
  fallback: string[];
  /** Keep the provider's input and result files once copied (native only). */
  keepProviderFiles: boolean;
}

/** The provider caps documented for each protocol (OpenAI's Batch API; Anthropic's Message Batches). */
const PROTOCOL_CAPS: Record<BatchProtocol, { maxBatchRequests: number; maxBatchBytes: number }> = {
  openai: { maxBatchRequests: 50_000, maxBatchBytes: 200 * 1000 * 1000 },
  anthropic: { maxBatchRequests: 100_000, maxBatchBytes: 256 * 1000 * 1000 },
};

const ENTRY_KEYS = new Set([
  'match',
  'name',
  'base_url',
  'api_key_env',
  'max_concurrency',
  'batch',
  'protocol',
  'headers',
  'query',
  'max_batch_requests',
  'max_batch_bytes',
  'fallback',
  'keep_provider_files',
]);

/** The upstream from UPSTREAM_BASE_URL / UPSTREAM_API_KEY / UPSTREAM_MAX_CONCURRENCY: it executes, in OpenAI's wire format. */
export function defaultUpstream(baseUrl: string, apiKey?: string, maxConcurrency?: number): Upstream {
  return {
    name: 'default',
    baseUrl,
    apiKey,
    maxConcurrency,
    batch: 'execute',
    protocol: 'openai',
    headers: {},
    query: {},
    ...PROTOCOL_CAPS.openai,
    fallback: [],
    keepProviderFiles: false,
  };
}

interface Route {
  pattern: RegExp;
  upstream: Upstream;
}

/** "gpt-4o*" → /^gpt-4o.*$/ : `*` is the only wildcard. */
const globToRegExp = (glob: string) =>
  new RegExp(
    `^${glob
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );

/**
 * Which upstream serves a model (the first matching rule of the routing file, else the default from
 * UPSTREAM_BASE_URL), how it takes batches, and which upstreams take over a line it failed.
 */
export class UpstreamRoutes {
  private readonly byName: Map<string, Upstream>;

  constructor(
    private readonly fallbackUpstream: Upstream,
    private readonly routes: Route[] = [],
  ) {
    this.byName = new Map([
      [fallbackUpstream.name, fallbackUpstream],
      ...routes.map((route): [string, Upstream] => [route.upstream.name, route.upstream]),
    ]);
  }

  /**
   * Reads a JSON or YAML routing file: `{ upstreams: [{ match, base_url, … }] }` (see the README's keys).
   * Keys are read from the named environment variables now, so a missing one stops start-up, as does
   * an unknown key or a bad value (one line naming it).
   */
  static load(fallback: Upstream, path: string | undefined, env: Record<string, string | undefined>): UpstreamRoutes {
    if (!path) {
      return new UpstreamRoutes(fallback);
    }
    const text = readFileSync(path, 'utf8');
    const document = (path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as { upstreams?: unknown };
    if (!Array.isArray(document?.upstreams)) {
      throw new Error(`UPSTREAMS_FILE ${path} must hold an "upstreams" list`);
    }
    const routes = (document.upstreams as unknown[]).map((entry, index) =>
      routeOf(entry, `UPSTREAMS_FILE ${path}: upstream #${index + 1}`, env),
    );
    const names = new Set([fallback.name]);
    for (const { upstream } of routes) {
      if (names.has(upstream.name)) {
        throw new Error(`UPSTREAMS_FILE ${path}: the name "${upstream.name}" is used twice`);
      }
      names.add(upstream.name);
    }
    const table = new UpstreamRoutes(fallback, routes);
    table.checkFallbacks(path);
    return table;
  }

  /** The upstream serving `model`. */
  for(model: string): Upstream {
    return this.routes.find((route) => route.pattern.test(model))?.upstream ?? this.fallbackUpstream;
  }

  /** The upstream serving `model`, then those of its fallback list: where a failed line goes next. */
  chainFor(model: string): Upstream[] {
    const first = this.for(model);
    return [first, ...first.fallback.map((name) => this.byName.get(name) as Upstream)];
  }

  /** The upstream of this name, if the routing file still has it. */
  named(name: string): Upstream | undefined {
    return this.byName.get(name);
  }

  private checkFallbacks(path: string): void {
    for (const upstream of this.byName.values()) {
      for (const name of upstream.fallback) {
        const target = this.byName.get(name);
        if (!target || name === upstream.name) {
          throw new Error(
            `UPSTREAMS_FILE ${path}: upstream "${upstream.name}" falls back to "${name}", ${target ? 'itself' : 'which no upstream is named'}`,
          );
        }
        if (upstream.batch === 'execute' && target.batch === 'native') {
          throw new Error(
            `UPSTREAMS_FILE ${path}: upstream "${upstream.name}" executes lines and cannot fall back to the native upstream "${name}"`,
          );
        }
      }
    }
  }
}

function routeOf(raw: unknown, where: string, env: Record<string, string | undefined>): Route {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Error(`${where} is not an object`);
  }
  const entry = raw as Record<string, unknown>;
  const unknown = Object.keys(entry).filter((key) => !ENTRY_KEYS.has(key));
  if (unknown.length > 0) {
    throw new Error(`${where} has unknown key(s): ${unknown.join(', ')}`);
  }
  if (typeof entry.match !== 'string' || typeof entry.base_url !== 'string' || !/^https?:\/\//.test(entry.base_url)) {
    throw new Error(`${where} needs "match" and an http(s) "base_url"`);
  }
  const batch = oneOf(entry.batch, ['execute', 'native'] as const, 'execute', `${where} "batch"`);
  const protocol = oneOf(entry.protocol, ['openai', 'anthropic'] as const, 'openai', `${where} "protocol"`);
  const caps = PROTOCOL_CAPS[protocol];
  return {
    pattern: globToRegExp(entry.match),
    upstream: {
      name: optionalString(entry.name, `${where} "name"`) ?? entry.match,
      baseUrl: entry.base_url,
      apiKey: apiKeyOf(entry.api_key_env, where, env),
      maxConcurrency: wholeNumber(entry.max_concurrency, `${where} "max_concurrency"`),
      batch,
      protocol,
      headers: stringMap(entry.headers, `${where} "headers"`),
      query: stringMap(entry.query, `${where} "query"`),
      maxBatchRequests: wholeNumber(entry.max_batch_requests, `${where} "max_batch_requests"`) ?? caps.maxBatchRequests,
      maxBatchBytes: wholeNumber(entry.max_batch_bytes, `${where} "max_batch_bytes"`) ?? caps.maxBatchBytes,
      fallback: nameList(entry.fallback, `${where} "fallback"`),
      keepProviderFiles: flag(entry.keep_provider_files, `${where} "keep_provider_files"`),
    },
  };
}

function apiKeyOf(variable: unknown, where: string, env: Record<string, string | undefined>): string | undefined {
  if (variable === undefined) {
    return undefined;
  }
  if (typeof variable !== 'string') {
    throw new Error(`${where} has an "api_key_env" that is not a variable name`);
  }
  const key = env[variable];
  if (!key) {
    throw new Error(`${where} reads its key from ${variable}, which is not set`);
  }
  return key;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], absent: T, what: string): T {
  if (value === undefined) {
    return absent;
  }
  if (!allowed.includes(value as T)) {
    throw new Error(`${what} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function optionalString(value: unknown, what: string): string | undefined {
  if (value !== undefined && (typeof value !== 'string' || value.trim() === '')) {
    throw new Error(`${what} must be a non-empty string`);
  }
  return value;
}

function wholeNumber(value: unknown, what: string): number | undefined {
  if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 1)) {
    throw new Error(`${what} is not a whole number of at least 1`);
  }
  return value as number | undefined;
}

function flag(value: unknown, what: string): boolean {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new Error(`${what} must be true or false`);
  }
  return value ?? false;
}

function stringMap(value: unknown, what: string): Record<string, string> {
  if (value === undefined) {
    return {};
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    !Object.values(value).every((item) => typeof item === 'string')
  ) {
    throw new Error(`${what} must map names to strings`);
  }
  return value as Record<string, string>;
}

function nameList(value: unknown, what: string): string[] {
  if (value === undefined) {
    return [];
  }
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new Error(`${what} must be a list of upstream names`);
  }
  return value;
}

/** The headers every request to an upstream carries: its credentials as its protocol wants them, then its own. */
export function upstreamHeaders(upstream: Pick<Upstream, 'apiKey' | 'protocol' | 'headers'>): Record<string, string> {
  const credentials: Record<string, string> =
    upstream.protocol === 'anthropic'
      ? { ...(upstream.apiKey ? { 'x-api-key': upstream.apiKey } : {}), 'anthropic-version': ANTHROPIC_VERSION }
      : upstream.apiKey
        ? { authorization: `Bearer ${upstream.apiKey}` }
        : {};
  return { ...credentials, ...upstream.headers };
}

/** The Messages API version the Anthropic protocol speaks. */
const ANTHROPIC_VERSION = '2023-06-01';

/**
 * The URL of a path on an upstream: its base carries the version prefix, so /v1 is dropped from the path
 * (a batch line's url), and the upstream's own query parameters are added.
 */
export function upstreamUrl(upstream: Pick<Upstream, 'baseUrl' | 'query'>, path: string): string {
  const url = `${upstream.baseUrl.replace(/\/+$/, '')}${path.replace(/^\/v1(?=\/)/, '')}`;
  const query = new URLSearchParams(upstream.query).toString();
  return query ? `${url}${url.includes('?') ? '&' : '?'}${query}` : url;
}
