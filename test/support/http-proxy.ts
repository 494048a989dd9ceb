import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request } from 'undici';

/** A request the proxy saw, with the status it answered (0: held or dropped). */
export interface ProxiedRequest {
  method: string;
  path: string;
  status: number;
}

type Match = (method: string, path: string) => boolean;

/** What the proxy answers in place of a JSON answer of the server's (given the request and that answer). */
type Rewrite = (method: string, path: string, body: unknown) => unknown;

/**
 * A real HTTP proxy in front of a real server, for what a test must make the network do: go away for a while
 * (every request answered by a status, or refused), or hold the answer to a request that the server has
 * already carried out (a caller that dies before it hears back).
 */
export class HttpProxy {
  readonly seen: ProxiedRequest[] = [];
  private down: number | null = null;
  private holding: Match | null = null;
  private cutting: { match: Match; times: number } | null = null;
  private refusing: { match: Match; status: number; times: number } | null = null;
  private rewriting: Rewrite | null = null;
  private readonly held: ServerResponse[] = [];
  private heldWaiters: (() => void)[] = [];

  private constructor(
    private readonly server: Server,
    private readonly target: string,
    readonly url: string,
  ) {}

  /** Proxies to `target` (scheme://host:port); `url` is the proxy's own with the target's path kept. */
  static async start(targetUrl: string): Promise<HttpProxy> {
    const target = new URL(targetUrl);
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const proxy = new HttpProxy(server, target.origin, `http://127.0.0.1:${port}${target.pathname.replace(/\/$/, '')}`);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void proxy.handle(req, res));
    return proxy;
  }

  /** Answer every request with `status` (and retry-after: 1) until `up()`. */
  goDown(status: number): void {
    this.down = status;
  }

  up(): void {
    this.down = null;
  }

  /**
   * Forward matching requests, but keep their answers from the caller (until close). Answers an earlier hold kept
   * are dropped: `nextHeld` waits for one of this hold's.
   */
  holdAnswers(match: Match): void {
    this.holding = match;
    this.held.splice(0).forEach((res) => res.destroy());
  }

  /** Answer the next `times` matching requests with `status` and an OpenAI error, without forwarding them. */
  refuseAnswers(match: Match, status: number, times: number): void {
    this.refusing = { match, status, times };
  }

  /** Pass every successful JSON answer through `rewrite` (until called with null): the server said something else. */
  rewriteAnswers(rewrite: Rewrite | null): void {
    this.rewriting = rewrite;
  }

  /** Send the first half of the next `times` matching answers (their whole length announced), then close. */
  cutAnswers(match: Match, times: number): void {
    this.cutting = { match, times };
  }

  /** Resolves once a request's answer is being held. */
  async nextHeld(timeoutMs = 20_000): Promise<void> {
    if (this.held.length > 0) {
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('No answer was held in time')), timeoutMs);
      this.heldWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  count(method: string, path: RegExp): number {
    return this.seen.filter((r) => r.method === method && path.test(r.path)).length;
  }

  async close(): Promise<void> {
    this.held.forEach((res) => res.destroy());
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const entry: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', status: 0 };
    this.seen.push(entry);
    if (this.down !== null) {
      req.resume();
      entry.status = this.down;
      res.writeHead(this.down, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: { message: 'Proxy: the server is away', type: 'server_error' } }));
      return;
    }
    const refusing = this.refusing;
    if (refusing && refusing.times > 0 && refusing.match(entry.method, entry.path)) {
      refusing.times--;
      req.resume();
      entry.status = refusing.status;
      res.writeHead(refusing.status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: { message: 'Proxy: refused', type: 'invalid_request_error', param: null, code: null },
        }),
      );
      return;
    }
    try {
      const headers = { ...req.headers };
      delete headers.host;
      delete headers.connection;
      delete headers['transfer-encoding'];
      delete headers['keep-alive'];
      const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
      const answer = await request(`${this.target}${entry.path}`, {
        method: entry.method as 'GET',
        headers,
        body: hasBody ? req : undefined,
      });
      let body = Buffer.from(await answer.body.arrayBuffer());
      const json = String(answer.headers['content-type'] ?? '').startsWith('application/json');
      if (this.rewriting && json && answer.statusCode < 300) {
        body = Buffer.from(JSON.stringify(this.rewriting(entry.method, entry.path, JSON.parse(body.toString()))));
      }
      if (this.holding?.(entry.method, entry.path)) {
        this.held.push(res);
        this.heldWaiters.splice(0).forEach((wake) => wake());
        return;
      }
      entry.status = answer.statusCode;
      const out = { ...answer.headers };
      delete out['transfer-encoding'];
      delete out.connection;
      res.writeHead(answer.statusCode, { ...out, 'content-length': String(body.length) });
      if (this.cutting && this.cutting.times > 0 && this.cutting.match(entry.method, entry.path)) {
        this.cutting.times--;
        entry.status = 0;
        res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
        return;
      }
      res.end(body);
    } catch {
      res.destroy();
    }
  }
}
