import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

export interface Upstream {
  baseUrl: string;
  apiKey: string | undefined;
  /** The most requests it accepts at once across all workers; unset = found by probing. */
  maxConcurrency?: number;
}

interface Route extends Upstream {
  pattern: RegExp;
}

interface RoutingFileEntry {
  match?: unknown;
  base_url?: unknown;
  api_key_env?: unknown;
  max_concurrency?: unknown;
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
 * Which upstream serves a model: the first matching rule of the routing file, else the default
 * (UPSTREAM_BASE_URL / UPSTREAM_API_KEY).
 */
export class UpstreamRoutes {
  constructor(
    private readonly fallback: Upstream,
    private readonly routes: Route[] = [],
  ) {}

  /**
   * Reads a JSON or YAML routing file: `{ upstreams: [{ match, base_url, api_key_env, max_concurrency }] }`.
   * Keys are read from the named environment variables now, so a missing one stops start-up.
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
    const routes = (document.upstreams as RoutingFileEntry[]).map((entry, index) => {
      if (
        typeof entry.match !== 'string' ||
        typeof entry.base_url !== 'string' ||
        !/^https?:\/\//.test(entry.base_url)
      ) {
        throw new Error(`UPSTREAMS_FILE ${path}: upstream #${index + 1} needs "match" and an http(s) "base_url"`);
      }
      let apiKey: string | undefined;
      if (entry.api_key_env !== undefined) {
        if (typeof entry.api_key_env !== 'string') {
          throw new Error(
            `UPSTREAMS_FILE ${path}: upstream #${index + 1} has an "api_key_env" that is not a variable name`,
          );
        }
        apiKey = env[entry.api_key_env];
        if (!apiKey) {
          throw new Error(
            `UPSTREAMS_FILE ${path}: upstream #${index + 1} reads its key from ${entry.api_key_env}, which is not set`,
          );
        }
      }
      const maxConcurrency = entry.max_concurrency;
      if (maxConcurrency !== undefined && !(Number.isInteger(maxConcurrency) && (maxConcurrency as number) >= 1)) {
        throw new Error(
          `UPSTREAMS_FILE ${path}: upstream #${index + 1} has a "max_concurrency" that is not a whole number of at least 1`,
        );
      }
      return {
        pattern: globToRegExp(entry.match),
        baseUrl: entry.base_url,
        apiKey,
        maxConcurrency: maxConcurrency as number | undefined,
      };
    });
    return new UpstreamRoutes(fallback, routes);
  }

  for(model: string): Upstream {
    return this.routes.find((route) => route.pattern.test(model)) ?? this.fallback;
  }
}

/** The upstream URL of a batch line: its base carries the version prefix, so /v1 is dropped from the line's url. */
export function upstreamUrl(baseUrl: string, lineUrl: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${lineUrl.replace(/^\/v1(?=\/)/, '')}`;
}
