// `npm start`: the api, worker and stub upstream together, for a machine with PostgreSQL and Redis running locally
// and no Docker. Works with no variables at all; any variable of the apps (.env.example) overrides a default.
// Ctrl-C (or SIGTERM) stops all three; the worker drains first.
//   - DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/venna; the database is created if missing.
//   - REDIS_URL defaults to redis://127.0.0.1:6379/0.
//   - VENNA_DATA_DIR (default ./.data) holds the stored files (STORAGE_DIR defaults to <it>/files) and the demo key.
//   - The apps are built first if dist/ lacks them.
// The defaults live here, not in the apps: a deployed api or worker without DATABASE_URL still stops at start-up.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';

const ROOT = resolve(import.meta.dirname, '..');
const ENTRIES = {
  api: 'dist/apps/api/src/main.js',
  worker: 'dist/apps/worker/src/main.js',
  stub: 'dist/apps/stub-upstream/src/main.js',
};
const dataDir = resolve(process.env.VENNA_DATA_DIR || '.data');

const env = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/venna',
  REDIS_URL: 'redis://127.0.0.1:6379/0',
  STORAGE_DIR: join(dataDir, 'files'),
  HOST: '127.0.0.1',
  WORKER_HTTP_HOST: '127.0.0.1',
  STUB_HOST: '127.0.0.1',
  ...Object.fromEntries(Object.entries(process.env).filter(([, value]) => value !== '')),
};
const port = env.PORT ?? '3000';
const withStub = !env.UPSTREAM_BASE_URL;
if (withStub) {
  env.UPSTREAM_BASE_URL = `http://127.0.0.1:${env.STUB_PORT ?? 4010}/v1`;
}

const children = [];
let stopping = false;

function fail(message) {
  process.stderr.write(`npm start: ${message}\n`);
  process.exit(1);
}

/** No well-known key: a demo key is made on the first start and kept in the data dir. */
function demoKey() {
  const file = join(dataDir, 'demo-api-key');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, `vk_${randomBytes(20).toString('hex')}\n`, { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}

async function buildIfMissing() {
  const missing = Object.values(ENTRIES).filter((entry) => !existsSync(join(ROOT, entry)));
  if (missing.length === 0) {
    return;
  }
  process.stdout.write(`Building the apps (${missing.join(', ')} missing)...\n`);
  const build = spawn('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const [code] = await once(build, 'exit');
  if (code !== 0) {
    fail('the build failed');
  }
}

/** Creates the database DATABASE_URL names when the server does not have it yet. */
async function ensureDatabase() {
  const url = new URL(env.DATABASE_URL);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (error) {
    fail(`cannot reach PostgreSQL at ${redactUrl(env.DATABASE_URL)} (${error.message}); is it running?`);
  }
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) {
      await admin.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
      process.stdout.write(`Created database "${name}"\n`);
    }
  } finally {
    await admin.end();
  }
}

async function checkRedis() {
  const redis = new Redis(env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 5000 });
  redis.on('error', () => {}); // the connect below reports it
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    fail(`cannot reach Redis at ${redactUrl(env.REDIS_URL)} (${error.message}); is it running?`);
  } finally {
    redis.disconnect();
  }
}

const redactUrl = (text) => text.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');

function startApps() {
  const apps = [['api', ENTRIES.api], ['worker', ENTRIES.worker], ...(withStub ? [['stub', ENTRIES.stub]] : [])];
  for (const [name, entry] of apps) {
    const child = spawn(process.execPath, [join(ROOT, entry)], { env, stdio: 'inherit' });
    child.once('exit', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`${name} exited (${signal ?? code}); stopping the others\n`);
        process.exitCode = 1;
        stop();
      }
    });
    children.push(child);
  }
}

function stop() {
  stopping = true;
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
    }
  }
}

/** Resolves once the api answers HTTP (the banner then comes after the apps' start-up lines). */
async function apiAnswers(base) {
  for (let attempt = 0; attempt < 1200 && !stopping; attempt++) {
    try {
      await fetch(`${base}/health/live`, { signal: AbortSignal.timeout(2000) });
      return true;
    } catch {
      await sleep(100);
    }
  }
  return false;
}

process.on('SIGINT', stop);
process.on('SIGTERM', stop);

await buildIfMissing();
await ensureDatabase();
await checkRedis();
if (stopping) {
  process.exit();
} // stopped before anything was started
env.BOOTSTRAP_API_KEY ??= demoKey();
startApps();

const host = env.HOST === '0.0.0.0' || env.HOST === '::' ? '127.0.0.1' : env.HOST;
const base = `http://${host}:${port}`;
if (await apiAnswers(base)) {
  process.stdout.write(
    [
      '',
      `Venna is running: ${base}/v1 (OpenAI base URL), Swagger UI at ${base}/docs`,
      withStub
        ? `Upstream: the stub (a stand-in LLM) at ${env.UPSTREAM_BASE_URL}; set UPSTREAM_BASE_URL for a real one`
        : `Upstream: ${env.UPSTREAM_BASE_URL}`,
      `Key of workspace "default": ${env.BOOTSTRAP_API_KEY}`,
      `Try: curl -s ${base}/v1/files -H "Authorization: Bearer ${env.BOOTSTRAP_API_KEY}"`,
      'Ctrl-C stops it.',
      '',
    ].join('\n'),
  );
}
