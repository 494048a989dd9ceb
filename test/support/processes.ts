import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ADMIN_KEY, TEST_DATABASE_URL, TEST_REDIS_URL } from './env';
import { pollUntil } from './poll';

const ROOT = resolve(__dirname, '../..');
/** Where the build puts an app's entry point (one output tree: dist/apps/<app>/src, dist/libs/core/src). */
export const appEntry = (app: string) => join(ROOT, `dist/apps/${app}/src/main.js`);

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/** A built app running as its own process, with its output kept for assertions and failure reports. */
export class AppProcess {
  output = '';
  private exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (data: Buffer) => (this.output += data.toString()));
    child.stderr?.on('data', (data: Buffer) => (this.output += data.toString()));
    this.exited = once(child, 'exit').then(([code]) => code as number | null);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async waitForOutput(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    const seen = () => `${pattern} in:\n${this.output.slice(-3000)}`;
    const output = () => {
      if (!this.running && !pattern.test(this.output)) {
        throw new Error(`The process exited before printing ${seen()}`);
      }
      return this.output;
    };
    await pollUntil(output, (text) => pattern.test(text), { what: seen, timeoutMs });
  }

  /** Resolves with the exit code once the process is gone. */
  waitForExit(): Promise<number | null> {
    return this.exited;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.running) {
      this.child.kill(signal);
      await this.exited;
    }
  }
}

export function spawnApp(app: 'api' | 'worker', env: Record<string, string | undefined>): AppProcess {
  const child = spawn(process.execPath, [appEntry(app)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new AppProcess(child);
}

export const newStorageDir = () => mkdtempSync(join(tmpdir(), 'venna-e2e-'));

export interface ApiHandle {
  url: string;
  process: AppProcess;
  storageDir: string;
  stop(): Promise<void>;
}

export async function startApi(
  overrides: Record<string, string | undefined> = {},
  storageDir = overrides.STORAGE_DIR ?? newStorageDir(),
): Promise<ApiHandle> {
  const port = await freePort();
  const process = spawnApp('api', {
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    STORAGE_DIR: storageDir,
    PORT: String(port),
    ADMIN_API_KEY: ADMIN_KEY,
    ...overrides,
  });
  await process.waitForOutput(/Listening on port/);
  return { url: `http://127.0.0.1:${port}`, process, storageDir, stop: () => process.stop() };
}

export async function startWorker(
  upstreamUrl: string,
  storageDir: string,
  overrides: Record<string, string | undefined> = {},
): Promise<AppProcess> {
  const worker = spawnApp('worker', {
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    STORAGE_DIR: storageDir,
    // Each worker serves health and metrics on a port of its own, as it would on its own host.
    WORKER_HTTP_HOST: '127.0.0.1',
    WORKER_HTTP_PORT: String(await freePort()),
    UPSTREAM_BASE_URL: upstreamUrl,
    UPSTREAM_RETRY_BASE_MS: '20',
    UPSTREAM_RETRY_MAX_MS: '500',
    UPSTREAM_TIMEOUT_MS: '5000',
    BATCH_STATUS_POLL_MS: '200',
    WORKER_LOCK_DURATION_MS: '4000',
    ...overrides,
  });
  await worker.waitForOutput(/Worker started/);
  return worker;
}
