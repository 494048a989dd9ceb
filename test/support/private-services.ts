/**
 * PostgreSQL and Redis servers of the test's own, on free loopback ports, that a fault test may stop,
 * freeze or wipe without touching the shared servers on 5432 and 6379.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { Client } from 'pg';
import { freePort } from './processes';
import { waitUntil } from './poll';

const run = promisify(execFile);

/** initdb and the postmaster refuse to run as root, so as root they run as this OS user. */
const PG_OS_USER = 'postgres';
const DATABASE = 'venna';

/** Servers still up when the test process exits (a crash, a kill, a forgotten stop): stopped there. */
const emergencyStops = new Set<() => void>();
process.once('exit', () =>
  emergencyStops.forEach((stop) => {
    try {
      stop();
    } catch {
      // Already gone: nothing left to stop.
    }
  }),
);

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:PORT/venna */
  url: string;
  port: number;
  /** Starts the stopped server again (same data). */
  start(): Promise<void>;
  /** `pg_ctl stop -m fast`: open sessions are cut, as in a real outage. */
  stop(): Promise<void>;
  /** Stops the server if it runs and removes its files. */
  destroy(): Promise<void>;
}

/** A fresh PostgreSQL cluster in a temp dir with a `venna` database, trust auth, loopback only. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  const root = mkdtempSync(join(tmpdir(), 'venna-pg-'));
  const dataDir = join(root, 'data');
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    chownSync(root, pgOsUid(), pgOsGid());
  }
  // As root, every PostgreSQL command runs as PG_OS_USER; its cwd is a dir that user can read.
  const asPgUser = (command: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', PG_OS_USER, '--', command, ...args]] : [command, args];
  const pg = (command: string, args: string[]) => run(...asPgUser(command, args), { cwd: root, timeout: 90_000 });
  const pgCtl = (...args: string[]) => pg('pg_ctl', ['-D', dataDir, '-w', '-t', '60', ...args]);
  const emergencyStop = () => {
    execFileSync(...asPgUser('pg_ctl', ['-D', dataDir, '-m', 'immediate', 'stop']), { cwd: root, stdio: 'ignore' });
  };
  /** Registered from the moment a start begins: a start that times out may still leave a postmaster. */
  const mayBeRunning = () => emergencyStops.has(emergencyStop);

  const handle: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/${DATABASE}`,
    port,
    async start() {
      emergencyStops.add(emergencyStop);
      await pgCtl('-l', join(root, 'server.log'), 'start');
    },
    async stop() {
      await pgCtl('-m', 'fast', 'stop');
      emergencyStops.delete(emergencyStop);
    },
    async destroy() {
      try {
        if (mayBeRunning()) {
          await handle.stop();
        }
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };

  try {
    await pg('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
    appendFileSync(
      join(dataDir, 'postgresql.conf'),
      [
        `port = ${port}`,
        `listen_addresses = '127.0.0.1'`,
        // Its socket in its own dir, not next to the shared server's in /var/run/postgresql.
        `unix_socket_directories = '${root}'`,
        'fsync = off',
        'full_page_writes = off',
        '',
      ].join('\n'),
    );
    await handle.start();
    await createDatabase(port);
  } catch (error) {
    await handle.destroy().catch(() => undefined);
    throw error;
  }
  return handle;
}

const pgOsUid = () => Number(execFileSync('id', ['-u', PG_OS_USER]).toString().trim());
const pgOsGid = () => Number(execFileSync('id', ['-g', PG_OS_USER]).toString().trim());

async function createDatabase(port: number): Promise<void> {
  const admin = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${DATABASE}"`);
  } finally {
    await admin.end();
  }
}

export interface PrivateRedis {
  /** redis://127.0.0.1:PORT/0 */
  url: string;
  port: number;
  /** `CLIENT PAUSE ms ALL` (every client's commands wait for `ms`) or `WRITE` (only writes wait); returns at once. */
  pause(ms: number, mode?: 'ALL' | 'WRITE'): Promise<void>;
  /** Kills the server and starts an empty one on the same port: Redis restarted with its data lost. */
  restartEmpty(): Promise<void>;
  stop(): Promise<void>;
}

/** A redis-server child process without persistence, on a free loopback port. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let server = await spawnRedis(port);

  const handle: PrivateRedis = {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    async pause(ms, mode = 'ALL') {
      const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
      await client.connect();
      try {
        await client.call('CLIENT', 'PAUSE', String(ms), mode);
      } finally {
        // Not QUIT: under CLIENT PAUSE ALL it would itself wait for the pause to end.
        client.disconnect();
      }
    },
    async restartEmpty() {
      await server.stop('SIGKILL');
      server = await spawnRedis(port);
    },
    stop: () => server.stop('SIGTERM'),
  };
  return handle;
}

interface RedisProcess {
  stop(signal: NodeJS.Signals): Promise<void>;
}

async function spawnRedis(port: number): Promise<RedisProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = once(child, 'exit');
  const emergencyStop = () => child.kill('SIGKILL');
  emergencyStops.add(emergencyStop);
  const stop = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      await exited;
    }
    emergencyStops.delete(emergencyStop);
  };
  try {
    await waitForReady(child);
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
  return { stop };
}

async function waitForReady(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  let output = '';
  const onData = (data: Buffer) => (output += data.toString());
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  try {
    const what = () => `redis-server on its own port to become ready:\n${output}`;
    const ready = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`Gave up waiting for ${what()}`);
      }
      return output.includes('Ready to accept connections');
    };
    await waitUntil(ready, { what, timeoutMs, intervalMs: 20 });
  } finally {
    // Its output is no longer kept, but still drained: a full pipe would block the server.
    child.stdout?.off('data', onData).resume();
    child.stderr?.off('data', onData).resume();
  }
}

/** Stops what a test started, newest first; every step runs even when an earlier one fails. */
export class Teardown {
  private steps: (() => Promise<unknown>)[] = [];

  add(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      await step().catch((error: unknown) => errors.push(error));
    }
    if (errors.length > 0) {
      throw new AggregateError(errors, `${errors.length} teardown step(s) failed`);
    }
  }
}
