// npm run bench: throughput figures, each with a baseline measured in the same run.
//  upload      Streaming a large JSONL through POST /v1/files (with batch checks) vs. a plain local file copy;
//              peak RSS of the api for a small and a large upload shows memory does not grow with file size.
//  scale       A 4,000-line chat batch against a stub answering in 20 ms, workers with default settings:
//              one worker vs. two (fresh workers, separate batches). Ratio two/one, target >= 1.6.
//  direct      A 50,000-line chat batch, one worker with 200 requests in flight, vs. autocannon driving the
//              same stub straight at 200 connections. Ratio batch/direct, target >= 0.5.
//  embeddings  A 10,000-line /v1/embeddings batch answered with 1536-dimension vectors vs. the same batch
//              answered with 8 dimensions: req/s, output file size and what PostgreSQL wrote (WAL, pages).
//  read        The polling reads at 200 connections (autocannon): GET /v1/files/{id}, GET /v1/files?limit=20 and
//              GET /v1/batches/{id}, each with a key, vs. the app's own GET /health/live in the same run.
//              Ratio read/baseline, target >= 0.5. Also the CPU each request cost the api and PostgreSQL (/proc).
//  s3-upload   The Uploads API on S3 (fauxqs, an S3-compatible server in this process): 128 MiB sent as 16 parts
//              of 8 MiB, completed with the parts named in the order sent (S3 joins them in place) and in another
//              order (S3 copies them into a new object), vs. streamed through the api into a new object, as every
//              completion did before (S3_JOIN_IN_PLACE=false).
//  native      A 50,000-line chat batch on a provider's own Batch API (`batch: native`), the provider being a second
//              instance of this project (api, worker, stub, database and Redis db of its own): create to completed
//              through this one (one shard forwarded, polled every second) vs. the same file run on the provider
//              directly, alternately. Target: the median overhead over the rounds <= 10 % of the direct run + one
//              poll interval. Also the RSS of this instance's worker meanwhile, at 10,000 and 50,000 lines and in a
//              last pair at 200,000 lines (one shard: both instances' caps raised), which must not follow the size.
// BENCH_ONLY=read,scale,direct,embeddings,native,upload,s3-upload (comma list, default all) runs only those sections.
// Sizes can be changed for quick runs: BENCH_SCALE_LINES, BENCH_DIRECT_LINES, BENCH_DIRECT_SECONDS,
// BENCH_EMBEDDING_LINES, BENCH_EMBEDDING_DIMS, BENCH_READ_SECONDS, BENCH_NATIVE_LINES, BENCH_NATIVE_SMALL_LINES,
// BENCH_NATIVE_LARGE_LINES (0 skips that pair);
// BENCH_SCALE_ROUNDS=3 repeats the scaling pair, BENCH_NATIVE_ROUNDS=3 the native pair at the large size.
// BENCH_WORKER_ARGS (node flags) and BENCH_WORKER_ENV (KEY=VALUE pairs, space-separated) launch this instance's
// workers, not the native provider's: a launch profile (README, "Worker memory") measured against the defaults.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  createReadStream,
  createWriteStream,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import OpenAI, { toFile } from 'openai';
import pg from 'pg';

const ROOT = resolve(import.meta.dirname, '..');
const DB = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/venna_bench';
const REDIS = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/12';
const ADMIN = 'bench-admin-key-0123456789';
const STUB_LATENCY_MS = 20;
// The upload section runs last: the 580 MiB it writes leaves the kernel flushing pages to disk for a while,
// which would weigh on whichever section came next.
// The read section runs first, before any batch work has grown the tables or warmed anything else.
const SECTIONS = ['read', 'scale', 'direct', 'embeddings', 'native', 'upload', 's3-upload'];
const int = (name, fallback, least = 1) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < least) {
    throw new Error(`${name} must be an integer of at least ${least}`);
  }
  return value;
};
const SCALE_LINES = int('BENCH_SCALE_LINES', 4_000);
const SCALE_ROUNDS = int('BENCH_SCALE_ROUNDS', 1); // one worker then two, this many times; the ratio uses median times
const DIRECT_LINES = int('BENCH_DIRECT_LINES', 50_000);
const DIRECT_SECONDS = int('BENCH_DIRECT_SECONDS', 10);
const DIRECT_CONCURRENCY = 200;
const EMBEDDING_LINES = int('BENCH_EMBEDDING_LINES', 10_000);
const EMBEDDING_DIMS = int('BENCH_EMBEDDING_DIMS', 1536); // the stub accepts up to 16,384
const READ_SECONDS = int('BENCH_READ_SECONDS', 10);
const READ_CONNECTIONS = 200;
const NATIVE_LINES = int('BENCH_NATIVE_LINES', 50_000); // one shard: OpenAI's cap, the native upstream's default
const NATIVE_SMALL_LINES = int('BENCH_NATIVE_SMALL_LINES', 10_000); // run first: sizes the wait, and a second RSS point
const NATIVE_ROUNDS = int('BENCH_NATIVE_ROUNDS', 2); // direct then through this instance, this many times at the large size
// A last pair, 4x the size in one shard: the worker's RSS must not follow the file's size.
const NATIVE_LARGE_LINES = int('BENCH_NATIVE_LARGE_LINES', 200_000, 0);
// The caps of both instances (BATCH_MAX_REQUESTS) and of the native upstream, raised for that pair only where needed.
const NATIVE_MAX_REQUESTS = String(Math.max(50_000, NATIVE_LINES, NATIVE_LARGE_LINES));
// The native upstream's max_batch_requests: by default every size in one shard; 50000 (the default cap) shards the
// large pair as a provider with OpenAI's cap would.
const NATIVE_SHARD_LINES = int('BENCH_NATIVE_SHARD_LINES', Number(NATIVE_MAX_REQUESTS));
const NATIVE_POLL_SECONDS = 1;
// What /health/live costs is the api's own floor: routing and an answer, no key, no query.
const READ_BASELINE_PATH = '/health/live';
// A high-concurrency worker: 200 upstream requests in flight, enough 500-line chunks at once to keep them busy.
const BUSY_WORKER = { WORKER_CONCURRENCY: String(DIRECT_CONCURRENCY), WORKER_CHUNK_JOBS: '8' };
// The Redis client name BullMQ gives a worker of the chunk queue (prefix `venna`, queue `batch-chunks`).
const CHUNK_WORKER_CLIENT = `venna:${Buffer.from('batch-chunks').toString('base64')}`;
const REDIS_DB = Number(/\/(\d+)$/.exec(REDIS)?.[1] ?? 0);
// The native section's provider: a database and a Redis db of its own (the e2e suite uses Redis dbs 11 to 13).
const PROVIDER_DB = process.env.BENCH_PROVIDER_DATABASE_URL ?? DB.replace(/\/[^/]+$/, '/venna_bench_provider');
const PROVIDER_REDIS = process.env.BENCH_PROVIDER_REDIS_URL ?? REDIS.replace(/(\/\d+)?$/, '/14');
const PROVIDER_REDIS_DB = Number(/\/(\d+)$/.exec(PROVIDER_REDIS)?.[1] ?? 0);
const WORKER_ARGS = (process.env.BENCH_WORKER_ARGS ?? '').split(/\s+/).filter(Boolean);
const WORKER_ENV = Object.fromEntries(
  (process.env.BENCH_WORKER_ENV ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) {
        throw new Error(`BENCH_WORKER_ENV: "${pair}" is not KEY=VALUE`);
      }
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
);

const work = mkdtempSync(join(tmpdir(), 'venna-bench-'));
const children = new Set();
const teardowns = new Set(); // what a section must undo beyond its processes (a database), also when interrupted
let redis;
let admin;

// ---------------------------------------------------------------- processes

const freePort = async () => {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const p = s.address().port;
  s.close();
  return p;
};

/**
 * Starts an app from dist/ (with `nodeArgs` before its script); resolves once `ready` (a regexp on its output, or an
 * async predicate) holds.
 */
function start(app, env, ready, nodeArgs = []) {
  // BENCH_PROFILE_DIR=<dir> writes a CPU profile of every api and worker (node --cpu-prof) there, to see what bounds a figure.
  const profile =
    (app === 'worker' || app === 'api') && process.env.BENCH_PROFILE_DIR
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
      : [];
  const child = spawn(process.execPath, [...profile, ...nodeArgs, join(ROOT, `dist/apps/${app}/src/main.js`)], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: DB,
      REDIS_URL: REDIS,
      STORAGE_DIR: join(work, 'files'),
      LOG_LEVEL: 'warn',
      // As in production: pino's JSON lines cost little; the readable format is for people, not for load.
      LOG_FORMAT: 'json',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.app = app;
  child.output = '';
  const keep = (d) => (child.output = (child.output + d).slice(-64 * 1024)); // the tail is enough for errors
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return new Promise((resolvePromise, reject) => {
    const began = Date.now();
    const check = async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        return reject(new Error(`${app} exited:\n${child.output}`));
      }
      if (Date.now() - began > 60_000) {
        child.kill('SIGKILL'); // never left running unseen by the section that started it
        return reject(new Error(`${app} not ready after 60 s:\n${child.output}`));
      }
      if (ready instanceof RegExp ? ready.test(child.output) : await ready()) {
        return resolvePromise(child);
      }
      setTimeout(check, 50);
    };
    check().catch(reject);
  });
}

/** A readiness predicate for start(): the api on `port` answers its liveness probe. */
const answers = (port) => () =>
  fetch(`http://127.0.0.1:${port}/health/live`).then(
    (response) => response.ok,
    () => false,
  );

/** SIGTERM (a graceful drain), SIGKILL if it has not exited within 20 s. */
async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

/** Chunk-queue workers connected to a Redis db, the bench's by default (each worker process holds one such connection). */
async function chunkWorkersOnline(db = REDIS_DB) {
  const list = await redis.client('LIST'); // every db's clients: the server's list
  return list
    .split('\n')
    .filter((line) => new RegExp(`(^| )db=${db}( |$)`).test(line))
    .map((line) => / name=(\S*)/.exec(line)?.[1] ?? '')
    .filter((name) => name === CHUNK_WORKER_CLIENT || name.startsWith(`${CHUNK_WORKER_CLIENT}:w:`)).length;
}

/** `count` fresh worker processes, resolved when all of them listen to the chunk queue (they log at warn only). */
async function startWorkers(count, stubUrl, env = {}) {
  if ((await chunkWorkersOnline()) !== 0) {
    throw new Error('Workers of an earlier section are still connected to Redis');
  }
  const workers = [];
  const ready = async () => (await chunkWorkersOnline()) >= count;
  const started = Array.from({ length: count }, () =>
    // Several workers on one machine: their health and metrics listeners (not measured here) would share a port.
    start(
      'worker',
      { UPSTREAM_BASE_URL: stubUrl, WORKER_HTTP_PORT: '0', ...WORKER_ENV, ...env },
      ready,
      WORKER_ARGS,
    ).then((w) => workers.push(w)),
  );
  try {
    await Promise.all(started);
  } catch (error) {
    await Promise.allSettled(started);
    await Promise.all(workers.map(stop));
    throw error;
  }
  return workers;
}

/** Drops a database (and creates it again, empty, unless `create` is false), through the server's `postgres` database. */
async function recreateDatabase(url, create = true) {
  const name = new URL(url).pathname.slice(1);
  const client = new pg.Client({ connectionString: url.replace(/\/[^/]+$/, '/postgres') });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    if (create) {
      await client.query(`CREATE DATABASE "${name}"`);
    }
  } finally {
    await client.end();
  }
}

/** A new workspace on the api at `base` and a key of it, through the admin API. */
async function newWorkspaceKey(base, name) {
  const call = async (path, body) => {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
    }
    return response.json();
  };
  const workspace = await call('/admin/workspaces', { name });
  return (await call(`/admin/workspaces/${workspace.id}/api-keys`, {})).key;
}

const peakRssMb = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const currentRssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

// ---------------------------------------------------------------- input files, batches

const chatBody = (i) => ({
  model: 'bench',
  messages: [{ role: 'user', content: `bench request ${i} ${'lorem ipsum '.repeat(15)}` }],
});
const chatLine = (i) => ({ custom_id: `r-${i}`, method: 'POST', url: '/v1/chat/completions', body: chatBody(i) });
const embeddingLine = (dims) => (i) => ({
  custom_id: `e-${i}`,
  method: 'POST',
  url: '/v1/embeddings',
  body: { model: 'bench-embedding', input: `bench text ${i} ${'lorem ipsum '.repeat(15)}[stub:dims=${dims}]` },
});

async function writeJsonl(path, lines, lineOf = chatLine) {
  const out = createWriteStream(path);
  for (let i = 0; i < lines; i++) {
    if (!out.write(`${JSON.stringify(lineOf(i))}\n`)) {
      await once(out, 'drain');
    }
  }
  out.end();
  await once(out, 'finish');
  return statSync(path).size;
}

const TERMINAL = ['completed', 'failed', 'expired', 'cancelled'];

/**
 * Creates a batch and polls it with the SDK until it ends; the time is create → terminal status.
 * A batch that makes no progress for 120 s is cancelled, so a broken run ends instead of hanging.
 */
async function runBatch(client, fileId, endpoint) {
  const t = performance.now();
  const created = await client.batches.create({ input_file_id: fileId, endpoint, completion_window: '24h' });
  let batch = created;
  let progress = -1;
  let progressAt = Date.now();
  const samples = []; // [seconds since create, lines answered]
  try {
    while (!TERMINAL.includes(batch.status)) {
      await sleep(100);
      batch = await client.batches.retrieve(created.id);
      const done = (batch.request_counts?.completed ?? 0) + (batch.request_counts?.failed ?? 0);
      samples.push([(performance.now() - t) / 1000, done]);
      if (done !== progress || batch.status === 'finalizing') {
        [progress, progressAt] = [done, Date.now()];
      }
      if (Date.now() - progressAt > 120_000) {
        throw new Error(`Batch ${batch.id} made no progress for 120 s (status ${batch.status}, ${done} done)`);
      }
    }
  } catch (error) {
    await client.batches.cancel(created.id).catch(() => {}); // leave no open batch for the next section's workers
    throw error;
  }
  const seconds = (performance.now() - t) / 1000;
  return { batch, seconds, samples };
}

/** Where a batch's time went, from the polled progress: before the first answer, answering (per quarter), after the last. */
function phases({ samples, seconds }, lines) {
  const at = (count) => samples.find(([, done]) => done >= count)?.[0];
  const first = at(1);
  const marks = [0.25, 0.5, 0.75, 1].map((q) => at(Math.ceil(lines * q)));
  if (first === undefined || marks.includes(undefined)) {
    return 'phases: (not every line answered)';
  }
  const rate = (from, to) => (to > from ? fmt(lines / 4 / (to - from)) : '-'); // '-': within one 100 ms poll
  const quarters = marks.map((end, i) => rate(i === 0 ? first : marks[i - 1], end));
  return `phases: first answer after ${first.toFixed(1)} s; answering ${(marks[3] - first).toFixed(1)} s (req/s by quarter ${quarters.join(' / ')}); last answer to completed ${(seconds - marks[3]).toFixed(1)} s`;
}

/** Flags (and fails the run for) a batch that did not complete every line. */
function checkComplete(label, batch, lines) {
  if (batch.status === 'completed' && batch.request_counts.completed === lines && batch.request_counts.failed === 0) {
    return '';
  }
  process.exitCode = 1;
  return `  !! ${label}: status ${batch.status}, ${batch.request_counts.completed} completed, ${batch.request_counts.failed} failed of ${lines}`;
}

// ---------------------------------------------------------------- output

const fmt = (n, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const mib = (bytes) => bytes / 1024 / 1024;
const fmtBytes = (bytes) => (bytes >= 1024 * 1024 ? `${fmt(mib(bytes), 1)} MiB` : `${fmt(bytes / 1024, 1)} KiB`);

/** Prints rows as columns: the first left-aligned, the others right-aligned. */
function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => String(row[c]).length)));
  for (const row of rows) {
    console.log(
      `  ${row.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('   ')}`.trimEnd(),
    );
  }
}

// ---------------------------------------------------------------- sections

async function upload({ apiKey }) {
  // The same file through the api and through a plain copy; then a file 3x larger, to see memory stay flat.
  // An api of its own, so that its peak RSS is the uploads' alone (not what earlier sections left behind).
  const port = await freePort();
  const api = await start('api', { PORT: String(port), ADMIN_API_KEY: ADMIN, LOG_LEVEL: 'warn' }, answers(port));
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey, maxRetries: 0, timeout: 600_000 });
  const small = join(work, 'small.jsonl');
  const large = join(work, 'large.jsonl');
  const huge = join(work, 'huge.jsonl');
  const smallBytes = await writeJsonl(small, 5_000);
  const largeBytes = await writeJsonl(large, 450_000);
  const hugeOut = createWriteStream(huge);
  for (let i = 0; i < 3; i++) {
    for await (const chunk of createReadStream(large)) {
      if (!hugeOut.write(chunk)) {
        await once(hugeOut, 'drain');
      }
    }
  }
  hugeOut.end();
  await once(hugeOut, 'finish');
  const rssIdle = currentRssMb(api.pid);
  await client.files.create({ file: createReadStream(small), purpose: 'user_data' });
  const peakSmall = peakRssMb(api.pid);
  let t = performance.now();
  await copyFile(large, join(work, 'copy.jsonl'));
  const copyMs = performance.now() - t;
  t = performance.now();
  await client.files.create({ file: createReadStream(large), purpose: 'user_data' });
  const uploadMs = performance.now() - t;
  const peakLarge = peakRssMb(api.pid);
  await client.files.create({ file: createReadStream(huge), purpose: 'user_data' });
  const peakHuge = peakRssMb(api.pid);
  for (const path of [small, large, huge, join(work, 'copy.jsonl')]) {
    rmSync(path, { force: true });
  }
  await stop(api);
  const mb = mib(largeBytes);
  console.log(
    `\nUpload of ${mb.toFixed(0)} MiB (450,000 JSONL lines), streamed by the openai SDK (chunked, no Content-Length)`,
  );
  table([
    ['', 'MiB/s', 'ratio'],
    ['baseline: local file copy', fmt(mb / (copyMs / 1000)), ''],
    ['POST /v1/files', fmt(mb / (uploadMs / 1000)), (copyMs / uploadMs).toFixed(2)],
  ]);
  console.log(
    `  api peak RSS: idle ${rssIdle.toFixed(0)} MiB; after ${mib(smallBytes).toFixed(1)} MiB ${peakSmall.toFixed(0)} MiB; after ${mb.toFixed(0)} MiB ${peakLarge.toFixed(0)} MiB; after ${(3 * mb).toFixed(0)} MiB ${peakHuge.toFixed(0)} MiB (3x the bytes: ${(peakHuge / peakLarge).toFixed(2)}x the peak)`,
  );
  return `ratio ${(copyMs / uploadMs).toFixed(2)} of a file copy`;
}

const S3_UPLOAD_PARTS = 16;
const S3_UPLOAD_PART_BYTES = 8 * 1024 * 1024;

async function s3Upload({ apiKey }) {
  const { startFauxqs } = await import('fauxqs').catch((error) => {
    throw new Error(`fauxqs (a devDependency) is needed for this section: npm install (${error.message})`);
  });
  const s3 = await startFauxqs({ port: await freePort(), host: '127.0.0.1', logger: false });
  s3.createBucket('venna-bench');
  const startApi = async (env) => {
    const port = await freePort();
    const api = await start(
      'api',
      {
        PORT: String(port),
        ADMIN_API_KEY: ADMIN,
        STORAGE_DRIVER: 's3',
        S3_BUCKET: 'venna-bench',
        S3_ENDPOINT: `http://127.0.0.1:${s3.port}`,
        S3_FORCE_PATH_STYLE: 'true',
        S3_ACCESS_KEY_ID: 'bench',
        S3_SECRET_ACCESS_KEY: 'bench',
        ...env,
      },
      answers(port),
    );
    api.client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey, maxRetries: 0, timeout: 600_000 });
    return api;
  };
  const bytes = S3_UPLOAD_PARTS * S3_UPLOAD_PART_BYTES;
  const part = (i) => Buffer.alloc(S3_UPLOAD_PART_BYTES, String.fromCharCode(97 + i));
  const results = [];
  const inOrder = (ids) => ids;
  const swapped = (ids) => ids.map((_, i) => ids[i ^ 1]);
  // The streamed completion is what every completion did before the store assembled parts: kept as the baseline.
  const cases = [
    ['named in the order sent: joined in place', {}, inOrder],
    ['named in another order: copied by S3', {}, swapped],
    ['streamed through the api (S3_JOIN_IN_PLACE=false)', { S3_JOIN_IN_PLACE: 'false' }, swapped],
  ];
  const apis = new Map();
  try {
    for (const [label, env, order] of cases) {
      const key = JSON.stringify(env);
      if (!apis.has(key)) {
        apis.set(key, await startApi(env));
      }
      const api = apis.get(key);
      const upload = await api.client.uploads.create({
        filename: 'big.bin',
        purpose: 'user_data',
        bytes,
        mime_type: 'application/octet-stream',
      });
      let t = performance.now();
      const ids = [];
      for (let i = 0; i < S3_UPLOAD_PARTS; i++) {
        ids.push((await api.client.uploads.parts.create(upload.id, { data: await toFile(part(i), 'part') })).id);
      }
      const sendMs = performance.now() - t;
      t = performance.now();
      const cpuBefore = cpuMicros(api.pid);
      const completed = await api.client.uploads.complete(upload.id, { part_ids: order(ids) });
      const completeMs = performance.now() - t;
      const apiCpuMs = (cpuMicros(api.pid) - cpuBefore) / 1000;
      if (completed.file?.bytes !== bytes) {
        throw new Error(`${label}: a file of ${completed.file?.bytes} bytes`);
      }
      results.push({ label, sendMs, completeMs, apiCpuMs });
    }
  } finally {
    for (const api of apis.values()) {
      await stop(api);
    }
    await s3.stop();
  }
  const [inPlace, copied, streamed] = results;
  const mibps = (ms) => `${fmt((bytes / 1024 / 1024 / ms) * 1000)} MiB/s`;
  console.log(
    `\nUploads on S3: ${S3_UPLOAD_PARTS} parts of ${S3_UPLOAD_PART_BYTES / 1024 / 1024} MiB (${bytes / 1024 / 1024} MiB), sent one after the other`,
  );
  table([
    ['completion', 'parts sent in', 'completed in', 'api CPU', 'ratio'],
    ...results.map((r) => [
      r.label,
      `${fmt(r.sendMs)} ms (${mibps(r.sendMs)})`,
      `${fmt(r.completeMs)} ms`,
      `${fmt(r.apiCpuMs)} ms`,
      r === streamed ? '' : (r.completeMs / streamed.completeMs).toFixed(3),
    ]),
  ]);
  console.log(
    "  Joined in place and copied, the time is the S3 server's (fauxqs, in this process): the api sends it requests, no bytes.",
  );
  const ratio = (r) => (r.completeMs / streamed.completeMs).toFixed(3);
  return `completion in place ${fmt(inPlace.completeMs)} ms (${ratio(inPlace)}), copied ${fmt(copied.completeMs)} ms (${ratio(copied)}) vs streamed ${fmt(streamed.completeMs)} ms; api CPU ${fmt(inPlace.apiCpuMs)}, ${fmt(copied.apiCpuMs)} vs ${fmt(streamed.apiCpuMs)} ms`;
}

const importAutocannon = async () =>
  // Imported where needed so that the other sections run where the devDependency is not installed yet.
  (
    await import('autocannon').catch((error) => {
      throw new Error(`autocannon (a devDependency) is needed for this section: npm install (${error.message})`);
    })
  ).default;

/** CPU time (user + system, µs) a process has used so far, from /proc (clock ticks of 10 ms on Linux). */
const cpuMicros = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
};

/** CPU time (µs) of each PostgreSQL backend serving the bench database now (the api's pool), by pid. */
async function postgresCpuMicros() {
  const { rows } = await admin.query(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
  );
  const micros = new Map();
  for (const { pid } of rows) {
    try {
      micros.set(pid, cpuMicros(pid));
    } catch {
      // a backend that just ended
    }
  }
  return micros;
}

/** What the backends used between two readings: a backend that ended meanwhile is missed (the pool keeps them). */
const postgresUsed = (before, after) =>
  [...after].reduce((total, [pid, micros]) => total + micros - (before.get(pid) ?? 0), 0);

async function read({ client, api, base, apiKey, stubUrl }) {
  const autocannon = await importAutocannon();
  // What a client polls: its files, one of them, and a batch it ran (completed by a worker, then stopped).
  const fileIds = [];
  for (let i = 0; i < 30; i++) {
    const content = `${JSON.stringify(chatLine(i))}\n`;
    const file = await client.files.create({
      file: await toFile(Buffer.from(content), `read-${i}.jsonl`),
      purpose: 'batch',
    });
    fileIds.push(file.id);
  }
  const [worker] = await startWorkers(1, stubUrl);
  let batch;
  try {
    ({ batch } = await runBatch(client, fileIds[0], '/v1/chat/completions'));
  } finally {
    await stop(worker);
  }
  const targets = [
    [`baseline: GET ${READ_BASELINE_PATH}`, READ_BASELINE_PATH, false],
    ['GET /v1/files/{id}', `/v1/files/${fileIds[15]}`, true],
    ['GET /v1/files?limit=20', '/v1/files?limit=20', true],
    ['GET /v1/batches/{id}', `/v1/batches/${batch.id}`, true],
  ];
  const shoot = (path, withKey, duration) =>
    autocannon({
      url: `${base}${path}`,
      headers: withKey ? { authorization: `Bearer ${apiKey}` } : {},
      connections: READ_CONNECTIONS,
      duration,
    });
  for (const [, path, withKey] of targets) {
    await shoot(path, withKey, 2);
  } // warm-up: connections, JIT, caches
  const results = [];
  // CPU per request, of the api and of PostgreSQL: on 2 shared cores these move less than req/s with others' load.
  for (const [label, path, withKey] of targets) {
    const [apiBefore, postgresBefore] = [cpuMicros(api.pid), await postgresCpuMicros()];
    const result = await shoot(path, withKey, READ_SECONDS);
    const [apiAfter, postgresAfter] = [cpuMicros(api.pid), await postgresCpuMicros()];
    const perRequest = (micros) => micros / Math.max(1, result.requests.total);
    results.push({
      label,
      path,
      ...result,
      apiMicros: perRequest(apiAfter - apiBefore),
      postgresMicros: perRequest(postgresUsed(postgresBefore, postgresAfter)),
    });
  }
  const rps = (r) => r.requests.total / r.duration;
  const baseline = results[0];
  console.log(`\nRead path: ${READ_CONNECTIONS} connections, ${READ_SECONDS} s each (autocannon in this process)`);
  table([
    ['', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'api µs/req', 'PostgreSQL µs/req', 'ratio'],
    ...results.map((r) => [
      r.label,
      fmt(rps(r)),
      r.latency.p50,
      r.latency.p99,
      fmt(r.non2xx + r.errors),
      fmt(r.apiMicros),
      fmt(r.postgresMicros),
      r === baseline ? '' : (rps(r) / rps(baseline)).toFixed(2),
    ]),
  ]);
  if (baseline.non2xx) {
    console.log(
      `  note: ${READ_BASELINE_PATH} did not answer 2xx (not served by this build): the baseline is the api's not-found answer, also no key and no query`,
    );
  }
  for (const r of results.slice(1)) {
    if (r.non2xx || r.errors) {
      console.log(`  !! ${r.label}: ${r.errors} errors, ${r.non2xx} non-2xx answers`);
      process.exitCode = 1;
    }
  }
  const worst = Math.min(...results.slice(1).map((r) => rps(r) / rps(baseline)));
  return `lowest ratio read/baseline ${worst.toFixed(2)} (target >= 0.5)`;
}

async function scale({ client, stubUrl }) {
  const input = join(work, 'scale.jsonl');
  await writeJsonl(input, SCALE_LINES);
  const file = await client.files.create({ file: createReadStream(input), purpose: 'batch' });
  const runs = [];
  for (let round = 1; round <= SCALE_ROUNDS; round++) {
    for (const count of [1, 2]) {
      const workers = await startWorkers(count, stubUrl); // default WORKER_CONCURRENCY, WORKER_CHUNK_JOBS, BATCH_CHUNK_SIZE
      try {
        const run = await runBatch(client, file.id, '/v1/chat/completions');
        runs.push({ count, round, ...run, rss: workers.map((w) => peakRssMb(w.pid)) });
      } finally {
        await Promise.all(workers.map(stop));
      }
    }
  }
  const seconds = (count) => median(runs.filter((r) => r.count === count).map((r) => r.seconds));
  const ratio = seconds(1) / seconds(2);
  const label = (r) => `${r.count} worker${r.count > 1 ? 's' : ''}${SCALE_ROUNDS > 1 ? `, round ${r.round}` : ''}`;
  console.log(
    `\n(a) Scaling with workers: ${fmt(SCALE_LINES)}-line chat batch, stub latency ${STUB_LATENCY_MS} ms, default worker settings`,
  );
  table([
    ['', 'req/s', 'seconds', 'status', 'worker peak RSS'],
    ...runs.map((r) => [
      label(r),
      fmt(SCALE_LINES / r.seconds),
      r.seconds.toFixed(2),
      r.batch.status,
      r.rss.map((m) => `${m.toFixed(0)} MiB`).join(', '),
    ]),
  ]);
  console.log(
    `  ratio two/one: ${ratio.toFixed(2)} (target >= 1.6)${SCALE_ROUNDS > 1 ? `, from the median times of ${SCALE_ROUNDS} rounds` : ''}`,
  );
  for (const r of runs) {
    console.log(`  ${label(r)} ${phases(r, SCALE_LINES)}`);
  }
  for (const r of runs) {
    const problem = checkComplete(label(r), r.batch, SCALE_LINES);
    if (problem) {
      console.log(problem);
    }
  }
  return `ratio two/one ${ratio.toFixed(2)} (target >= 1.6)`;
}

async function direct({ client, stubUrl, stubPort }) {
  const autocannon = await importAutocannon();
  const input = join(work, 'direct.jsonl');
  await writeJsonl(input, DIRECT_LINES);
  const file = await client.files.create({ file: createReadStream(input), purpose: 'batch' });

  // Baseline: autocannon straight at the stub, the body of a batch line, after a short warm-up.
  const shoot = (duration) =>
    autocannon({
      url: `http://127.0.0.1:${stubPort}/v1/chat/completions`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(chatBody(0)),
      connections: DIRECT_CONCURRENCY,
      duration,
    });
  await shoot(2);
  const cannon = await shoot(DIRECT_SECONDS);
  const cannonRps = cannon.requests.total / cannon.duration;

  const [worker] = await startWorkers(1, stubUrl, BUSY_WORKER);
  let run;
  try {
    run = await runBatch(client, file.id, '/v1/chat/completions');
    run.rss = peakRssMb(worker.pid);
  } finally {
    await stop(worker);
  }
  const batchRps = DIRECT_LINES / run.seconds;
  const ratio = batchRps / cannonRps;
  console.log(
    `\n(b) Against the upstream driven directly: ${fmt(DIRECT_LINES)}-line chat batch, stub latency ${STUB_LATENCY_MS} ms, ${DIRECT_CONCURRENCY} in flight`,
  );
  table([
    ['', 'req/s', 'requests', 'seconds', 'worker peak RSS'],
    [
      `baseline: autocannon -> stub, ${DIRECT_CONCURRENCY} connections`,
      fmt(cannonRps),
      fmt(cannon.requests.total),
      cannon.duration.toFixed(2),
      '',
    ],
    [
      `batch, 1 worker, WORKER_CONCURRENCY=${BUSY_WORKER.WORKER_CONCURRENCY} WORKER_CHUNK_JOBS=${BUSY_WORKER.WORKER_CHUNK_JOBS}`,
      fmt(batchRps),
      fmt(DIRECT_LINES),
      run.seconds.toFixed(2),
      `${run.rss.toFixed(0)} MiB`,
    ],
  ]);
  console.log(
    `  ratio batch/direct: ${ratio.toFixed(2)} (target >= 0.5); autocannon latency p50 ${cannon.latency.p50} ms, p99 ${cannon.latency.p99} ms`,
  );
  console.log(`  batch ${phases(run, DIRECT_LINES)}`);
  if (cannon.errors || cannon.non2xx) {
    console.log(`  !! autocannon: ${cannon.errors} errors, ${cannon.non2xx} non-2xx answers`);
    process.exitCode = 1;
  }
  const problem = checkComplete('batch', run.batch, DIRECT_LINES);
  if (problem) {
    console.log(problem);
  }
  return `ratio batch/direct ${ratio.toFixed(2)} (target >= 0.5)`;
}

/** What PostgreSQL has written so far (cluster-wide): WAL position and counters, data pages; and the bench database's tuple counts. */
async function pgCounters() {
  const { rows } = await admin.query(`
    SELECT pg_current_wal_lsn()::text AS lsn, w.wal_bytes::bigint::text AS wal_bytes, w.wal_records::text AS wal_records, w.wal_fpi::text AS wal_fpi,
           (b.buffers_checkpoint + b.buffers_clean + b.buffers_backend)::text AS buffers, current_setting('block_size') AS block_size,
           (b.checkpoints_timed + b.checkpoints_req)::text AS checkpoints,
           d.tup_inserted::text AS tup_inserted, d.tup_updated::text AS tup_updated, d.tup_deleted::text AS tup_deleted
      FROM pg_stat_wal w, pg_stat_bgwriter b, pg_stat_database d
     WHERE d.datname = current_database()`);
  return rows[0];
}

/** CHECKPOINT, then the counters once the checkpointer has published its statistics (a moment after the command returns). */
async function checkpoint() {
  const done = Number((await pgCounters()).checkpoints);
  await admin.query('CHECKPOINT');
  for (let i = 0; i < 100; i++) {
    const counters = await pgCounters();
    if (Number(counters.checkpoints) > done) {
      return counters;
    }
    await sleep(50);
  }
  throw new Error('The checkpoint did not show in pg_stat_bgwriter within 5 s');
}

/**
 * One embeddings batch with `dims`-dimension answers, and what PostgreSQL wrote for it: from just before
 * the batch is created until its worker has exited and the api's sessions have flushed their statistics.
 */
async function embeddingBatch(client, stubUrl, dims) {
  const input = join(work, `embeddings-${dims}.jsonl`);
  await writeJsonl(input, EMBEDDING_LINES, embeddingLine(dims));
  const file = await client.files.create({ file: createReadStream(input), purpose: 'batch' });
  const [worker] = await startWorkers(1, stubUrl, BUSY_WORKER);
  let run;
  let before;
  try {
    // Vacuum (no dead rows of earlier batches left to autovacuum meanwhile), then a checkpoint (no dirty
    // pages left, and both variants start with the same full-page-image state).
    await admin.query('VACUUM');
    before = await checkpoint();
    run = await runBatch(client, file.id, '/v1/embeddings');
    run.rss = peakRssMb(worker.pid);
  } finally {
    await stop(worker); // its database sessions end, which flushes their statistics
  }
  await sleep(1_500); // the api's sessions flush theirs within a second
  const after = await pgCounters();
  const written = await checkpoint(); // writes the pages the batch dirtied, counted in buffers_checkpoint
  const lsnDiff = Number(
    (await admin.query('SELECT pg_wal_lsn_diff($1, $2)::bigint::text AS d', [after.lsn, before.lsn])).rows[0].d,
  );
  const delta = (key, end = after) => Number(end[key]) - Number(before[key]);
  const output = run.batch.output_file_id ? await client.files.retrieve(run.batch.output_file_id) : { bytes: 0 };
  return {
    dims,
    ...run,
    outputBytes: output.bytes,
    walBytes: lsnDiff,
    statWalBytes: delta('wal_bytes'),
    walRecords: delta('wal_records'),
    walFpi: delta('wal_fpi'),
    checkpoints: delta('checkpoints'),
    pageBytes: delta('buffers', written) * Number(written.block_size),
    inserted: delta('tup_inserted'),
    updated: delta('tup_updated'),
    deleted: delta('tup_deleted'),
  };
}

async function embeddings({ client, stubUrl }) {
  const small = await embeddingBatch(client, stubUrl, 8);
  const large = await embeddingBatch(client, stubUrl, EMBEDDING_DIMS);
  const rps = (r) => EMBEDDING_LINES / r.seconds;
  const x = (a, b) => (b ? `${(a / b).toFixed(2)}x` : '');
  console.log(
    `\n(c) Large answers: ${fmt(EMBEDDING_LINES)}-line /v1/embeddings batch, stub latency ${STUB_LATENCY_MS} ms, 1 worker, WORKER_CONCURRENCY=${BUSY_WORKER.WORKER_CONCURRENCY} WORKER_CHUNK_JOBS=${BUSY_WORKER.WORKER_CHUNK_JOBS}`,
  );
  table([
    ['', '8 dims (baseline)', `${EMBEDDING_DIMS} dims`, 'ratio'],
    ['req/s', fmt(rps(small)), fmt(rps(large)), (rps(large) / rps(small)).toFixed(2)],
    ['seconds', small.seconds.toFixed(2), large.seconds.toFixed(2), ''],
    ['output file', fmtBytes(small.outputBytes), fmtBytes(large.outputBytes), x(large.outputBytes, small.outputBytes)],
    [
      'WAL written (pg_current_wal_lsn)',
      fmtBytes(small.walBytes),
      fmtBytes(large.walBytes),
      x(large.walBytes, small.walBytes),
    ],
    ['WAL / output file', x(small.walBytes, small.outputBytes), x(large.walBytes, large.outputBytes), ''],
    [
      'pg_stat_wal wal_bytes',
      fmtBytes(small.statWalBytes),
      fmtBytes(large.statWalBytes),
      x(large.statWalBytes, small.statWalBytes),
    ],
    [
      'pg_stat_wal records / full-page images',
      `${fmt(small.walRecords)} / ${fmt(small.walFpi)}`,
      `${fmt(large.walRecords)} / ${fmt(large.walFpi)}`,
      '',
    ],
    ['checkpoints during the batch (full-page images follow one)', fmt(small.checkpoints), fmt(large.checkpoints), ''],
    [
      'data pages written (checkpoint+bgwriter+backends)',
      fmtBytes(small.pageBytes),
      fmtBytes(large.pageBytes),
      x(large.pageBytes, small.pageBytes),
    ],
    [
      'venna_bench tuples inserted / updated / deleted',
      `${fmt(small.inserted)} / ${fmt(small.updated)} / ${fmt(small.deleted)}`,
      `${fmt(large.inserted)} / ${fmt(large.updated)} / ${fmt(large.deleted)}`,
      '',
    ],
    ['worker peak RSS', `${small.rss.toFixed(0)} MiB`, `${large.rss.toFixed(0)} MiB`, ''],
  ]);
  console.log(
    '  WAL and page figures are cluster-wide: anything else writing to this PostgreSQL meanwhile is counted too.',
  );
  for (const r of [small, large]) {
    console.log(`  ${r.dims} dims ${phases(r, EMBEDDING_LINES)}`);
  }
  for (const r of [small, large]) {
    const problem = checkComplete(`${r.dims} dims`, r.batch, EMBEDDING_LINES);
    if (problem) {
      console.log(problem);
    }
  }
  return `${EMBEDDING_DIMS} dims: ${fmt(rps(large))} req/s (${(rps(large) / rps(small)).toFixed(2)} of 8 dims), WAL ${x(large.walBytes, large.outputBytes)} the output file`;
}

// ---------------------------------------------------------------- native provider batches

const CHAT = '/v1/chat/completions';
const nativeLine = (i) => ({ ...chatLine(i), body: { ...chatBody(i), model: 'native-bench' } });

/**
 * A second instance of this project standing in for a provider's Batch API: its own database, Redis db, stub,
 * api and worker (the direct section's busy worker: the provider runs 50,000 lines), and a workspace key.
 * close() stops it and drops its database; so does the bench's cleanup if the run is interrupted first.
 */
async function startProvider() {
  if (PROVIDER_REDIS_DB === REDIS_DB) {
    throw new Error('BENCH_PROVIDER_REDIS_URL must name another Redis db');
  }
  const processes = [];
  const redisDb = new Redis(PROVIDER_REDIS, { maxRetriesPerRequest: 1 });
  let db;
  const close = async () => {
    teardowns.delete(close);
    await Promise.allSettled(processes.map(stop));
    await Promise.allSettled([db?.end(), redisDb.flushdb().finally(() => redisDb.quit())]);
    await recreateDatabase(PROVIDER_DB, false);
  };
  teardowns.add(close);
  try {
    await recreateDatabase(PROVIDER_DB);
    await redisDb.flushdb(); // no jobs left from an earlier run
    const env = {
      DATABASE_URL: PROVIDER_DB,
      REDIS_URL: PROVIDER_REDIS,
      STORAGE_DIR: join(work, 'provider-files'),
      BATCH_MAX_REQUESTS: NATIVE_MAX_REQUESTS,
    };
    const stubPort = await freePort();
    const port = await freePort();
    processes.push(
      await start(
        'stub-upstream',
        { STUB_PORT: String(stubPort), STUB_LATENCY_MS: String(STUB_LATENCY_MS) },
        /Stub upstream/,
      ),
    );
    // At info: its access lines time what our worker asks of it (the upload, its polls, the download of results).
    const api = await start(
      'api',
      { ...env, PORT: String(port), ADMIN_API_KEY: ADMIN, LOG_LEVEL: 'info' },
      answers(port),
    );
    processes.push(api);
    const requests = accessLog(api);
    const worker = await start(
      'worker',
      { ...env, UPSTREAM_BASE_URL: `http://127.0.0.1:${stubPort}/v1`, WORKER_HTTP_PORT: '0', ...BUSY_WORKER },
      async () => (await chunkWorkersOnline(PROVIDER_REDIS_DB)) >= 1,
    );
    processes.push(worker);
    const base = `http://127.0.0.1:${port}`;
    const key = await newWorkspaceKey(base, 'provider-account');
    db = new pg.Client({ connectionString: PROVIDER_DB });
    await db.connect();
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0, timeout: 600_000 });
    return { url: `${base}/v1`, key, client, db, api, worker, requests, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The requests an api serves from now on, from its JSON access lines: method, url, status, when the answer was
 * sent and how long it took (start to the last byte written), and whether the openai SDK (this bench) sent it.
 */
function accessLog(api) {
  const requests = [];
  let partial = '';
  api.stdout.on('data', (data) => {
    const lines = (partial + data).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      if (!line.includes('"responseTime"')) {
        continue;
      }
      const { time, responseTime, req, res } = JSON.parse(line);
      const sdk = /^OpenAI\//.test(req.headers?.['user-agent'] ?? '');
      const end = Date.parse(time); // pino's ISO time of the line: when the answer's last byte was written
      requests.push({ method: req.method, url: req.url, status: res?.statusCode, end, start: end - responseTime, sdk });
    }
  });
  return requests;
}

/** Resets a process's peak RSS (VmHWM) to its RSS now (Linux: clear_refs 5); false where that is not allowed. */
function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Our worker's RSS, and the CPU time of processes (pids by name) and of this instance's PostgreSQL backends, sampled
 * every 200 ms until the returned function is called: the RSS at start, peak (and when) and end (MiB), and
 * cpuIn(name, from, to), the CPU seconds one of them (or `postgres`) used meanwhile.
 */
async function watchProcesses(worker, pids) {
  const exact = resetPeakRss(worker); // then VmHWM also catches a peak between two samples
  const samples = [];
  // Pools open and close backends as they go: each one seen keeps its last reading once it has ended.
  const backends = new Map();
  const sample = async () => {
    try {
      for (const [pid, micros] of await postgresCpuMicros()) {
        backends.set(pid, micros);
      }
      const rss = currentRssMb(worker);
      const cpu = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMicros(pid)]));
      cpu.postgres = [...backends.values()].reduce((sum, micros) => sum + micros, 0);
      samples.push({ at: Date.now(), rss, cpu });
    } catch {
      // one exited: the batch fails on its own
    }
  };
  await sample();
  const timer = setInterval(sample, 200);
  return async () => {
    clearInterval(timer);
    await sample();
    const highest = samples.reduce((a, b) => (b.rss > a.rss ? b : a));
    const cpuIn = (name, from, to) => {
      if (!from || !to) {
        return undefined;
      }
      const first = samples.find((x) => x.at >= from.getTime());
      const last = samples.findLast((x) => x.at <= to.getTime());
      return first && last && last.at > first.at ? (last.cpu[name] - first.cpu[name]) / 1e6 : undefined;
    };
    const rssAt = (time) => (time ? samples.findLast((x) => x.at <= time.getTime())?.rss : undefined);
    const [start, end] = [samples[0].rss, samples.at(-1).rss];
    return { start, peak: Math.max(highest.rss, exact ? peakRssMb(worker) : 0), end, peakAt: highest.at, cpuIn, rssAt };
  };
}

const between = (from, to) => (from && to ? (to.getTime() - from.getTime()) / 1000 : undefined);

/** Where a provider batch's time went, from the provider's own timestamps: validating, running, finalizing. */
async function providerPhases(provider, id) {
  const { rows } = await provider.db.query(
    'SELECT created_at, in_progress_at, finalizing_at, completed_at FROM batches WHERE id = $1',
    [id],
  );
  const [p] = rows;
  return {
    providerValidate: between(p.created_at, p.in_progress_at),
    providerRun: between(p.in_progress_at, p.finalizing_at),
    providerFinalize: between(p.finalizing_at, p.completed_at),
    providerTotal: between(p.created_at, p.completed_at),
    createdAt: p.created_at,
    completedAt: p.completed_at,
  };
}

/**
 * Where a batch through this instance spent its time: from the timestamps of both databases (one clock) and the
 * provider api's access lines for what our worker asked of it.
 */
async function gatewayPhases(provider, batchId) {
  const [batch] = (
    await admin.query('SELECT created_at, in_progress_at, completed_at FROM batches WHERE id = $1', [batchId])
  ).rows;
  const stages = (
    await admin.query(
      'SELECT provider_batch_id, intent_at, ended_at FROM provider_batches WHERE batch_id = $1 ORDER BY shard, stage',
      [batchId],
    )
  ).rows;
  if (stages.length !== 1) {
    return { stages: stages.length };
  } // the phases below hold for one shard only
  const [stage] = stages;
  const p = await providerPhases(provider, stage.provider_batch_id);
  const [file] = (
    await provider.db.query('SELECT output_file_id FROM batches WHERE id = $1', [stage.provider_batch_id])
  ).rows;
  const ours = provider.requests.filter((r) => !r.sdk);
  const find = (method, url, after = 0) => ours.find((r) => r.method === method && r.url === url && r.end >= after);
  const upload = ours.findLast((r) => r.method === 'POST' && r.url === '/v1/files' && r.end <= p.createdAt.getTime());
  // The poll that found the provider batch ended: the first of ours answered after the provider completed it.
  const noticed = find('GET', `/v1/batches/${stage.provider_batch_id}`, p.completedAt.getTime());
  const download = find('GET', `/v1/files/${file.output_file_id}/content`);
  const at = (ms) => (ms === undefined ? undefined : new Date(ms));
  const spans = [
    ['validating', batch.created_at, stage.intent_at],
    ['uploading', stage.intent_at, p.createdAt],
    ['waiting on the provider', p.createdAt, at(noticed?.end)],
    ['copying results', at(noticed?.end), stage.ended_at],
    ['finalizing', stage.ended_at, batch.completed_at],
  ];
  return {
    stages: 1,
    spans,
    // The phase the time `ms` (epoch) fell in.
    phaseAt: (ms) => spans.find(([, from, to]) => from && to && ms <= to.getTime())?.[0] ?? 'after completed',
    ...p,
    validate: between(batch.created_at, batch.in_progress_at),
    queued: between(batch.in_progress_at, stage.intent_at),
    toUpload: between(stage.intent_at, at(upload?.start)),
    upload: upload && (upload.end - upload.start) / 1000, // our input read, streamed up, checked by the provider
    create: between(at(upload?.end), p.createdAt), // POST /v1/batches
    noticed: between(p.completedAt, at(noticed?.end)), // the poll interval, at most
    toDownload: between(at(noticed?.end), at(download?.start)), // a second GET, the shard's custom_ids read
    download: download && (download.end - download.start) / 1000, // the results parsed and journaled meanwhile
    stageEnded: between(at(download?.end), stage.ended_at),
    finalize: between(stage.ended_at, batch.completed_at), // the provider's files deleted, our output file written
  };
}

/** The output file has every line once, each answered 200; '' when it does, else what is wrong (and the run fails). */
async function checkOutput(label, client, batch, lines) {
  const text = batch.output_file_id ? await (await client.files.content(batch.output_file_id)).text() : '';
  const ids = new Set();
  let notOk = 0;
  for (const line of text.split('\n')) {
    if (!line) {
      continue;
    }
    const result = JSON.parse(line);
    ids.add(result.custom_id);
    if (result.response?.status_code !== 200) {
      notOk++;
    }
  }
  const count = text.split('\n').filter(Boolean).length;
  if (count === lines && ids.size === lines && notOk === 0) {
    return '';
  }
  process.exitCode = 1;
  return `  !! ${label}: output file has ${count} lines, ${ids.size} custom_ids, ${notOk} not answered 200, of ${lines}`;
}

/**
 * Lets both instances finish what the previous run left them before the next one starts: each purges an ended
 * batch's journal after completing it, and PostgreSQL (one server for both) then vacuums the deleted rows and
 * flushes them to disk. The run after another would otherwise pay for it, and it is always the same path's turn.
 */
async function settle(provider) {
  for (const db of [admin, provider.db]) {
    const deadline = Date.now() + 60_000;
    while ((await db.query('SELECT 1 FROM batch_line_results LIMIT 1')).rowCount > 0 && Date.now() < deadline) {
      await sleep(100);
    }
    await db.query('VACUUM batch_line_results');
  }
  await admin.query('CHECKPOINT');
}

/** Runs `lines` lines on the provider directly, then through this instance; the times are create to completed. */
async function nativeRounds({ client, provider, worker, lines, rounds, runs }) {
  const input = join(work, `native-${lines}.jsonl`);
  const bytes = await writeJsonl(input, lines, nativeLine);
  // The same file sent by the SDK, to set the upload our worker does (in its batch's time) against.
  let t = performance.now();
  const direct = await provider.client.files.create({ file: createReadStream(input), purpose: 'batch' });
  const uploads = { bytes, direct: (performance.now() - t) / 1000 };
  t = performance.now();
  const ours = await client.files.create({ file: createReadStream(input), purpose: 'batch' });
  uploads.ours = (performance.now() - t) / 1000;
  rmSync(input);
  for (let round = 1; round <= rounds; round++) {
    await settle(provider);
    const baseline = await runBatch(provider.client, direct.id, CHAT);
    runs?.push({ lines, round, path: 'direct', ...baseline, ...(await providerPhases(provider, baseline.batch.id)) });
    await settle(provider);
    const stopWatching = await watchProcesses(worker.pid, { worker: worker.pid, providerApi: provider.api.pid });
    let run;
    let watched;
    try {
      run = await runBatch(client, ours.id, CHAT);
    } finally {
      watched = await stopWatching();
    }
    if (runs) {
      const phases = await gatewayPhases(provider, run.batch.id);
      runs.push({
        lines,
        round,
        path: 'gateway',
        ...run,
        ...phases,
        watched,
        uploads,
        peakIn: phases.phaseAt?.(watched.peakAt),
      });
    }
  }
}

async function native({ client, stubUrl }) {
  const provider = await startProvider();
  let worker;
  const runs = [];
  try {
    const routes = join(work, 'upstreams.json');
    const upstream = { match: 'native-*', name: 'provider', base_url: provider.url, api_key_env: 'PROVIDER_KEY' };
    const native = { ...upstream, batch: 'native', max_batch_requests: NATIVE_SHARD_LINES };
    writeFileSync(routes, JSON.stringify({ upstreams: [native] }));
    // A fresh worker for each size, kept through that size's rounds as a long-lived one in production: each size's
    // first run starts from the same state, so their RSS peaks compare, whatever V8 kept from earlier runs.
    const measure = async (lines, rounds) => {
      if (worker) {
        await stop(worker);
      }
      [worker] = await startWorkers(1, stubUrl, {
        UPSTREAMS_FILE: routes,
        PROVIDER_KEY: provider.key,
        NATIVE_BATCH_POLL_SECONDS: String(NATIVE_POLL_SECONDS),
        BATCH_MAX_REQUESTS: NATIVE_MAX_REQUESTS,
      });
      const idleRss = currentRssMb(worker.pid);
      // A small pair first, not reported: it warms our worker up, and a cold provider worker answered its first
      // 10,000 lines 2x slower.
      await nativeRounds({ client, provider, worker, lines: 1_000, rounds: 1 });
      const measured = [];
      await nativeRounds({ client, provider, worker, lines, rounds, runs: measured });
      runs.push(...measured.map((run) => ({ ...run, idleRss })));
    };
    if (NATIVE_SMALL_LINES < NATIVE_LINES) {
      await measure(NATIVE_SMALL_LINES, 1);
    }
    await measure(NATIVE_LINES, NATIVE_ROUNDS);
    if (NATIVE_LARGE_LINES > NATIVE_LINES) {
      await measure(NATIVE_LARGE_LINES, 1);
    }
    // After the timed runs: downloading 50,000 lines takes a moment, and the output is checked on both instances.
    for (const r of runs) {
      const label = `${r.path} ${fmt(r.lines)}`;
      r.problems = [
        checkComplete(label, r.batch, r.lines),
        await checkOutput(label, r.path === 'direct' ? provider.client : client, r.batch, r.lines),
        r.path === 'gateway' && r.stages !== 1 ? `  !! ${label}: ${r.stages} provider batches, not 1` : '',
      ].filter(Boolean);
    }
    const refused = provider.requests.filter((r) => !r.sdk && !(r.status >= 200 && r.status < 300));
    for (const r of refused) {
      console.log(`  !! the provider answered our worker ${r.status}: ${r.method} ${r.url}`);
    }
    // Our worker logs at warn: anything it said is worth a look (a provider away, a failed turn).
    const said = worker.output.split('\n').filter(Boolean);
    if (said.length) {
      console.log(`  our worker logged ${said.length} line(s), the last:\n    ${said.slice(-3).join('\n    ')}`);
    }
  } finally {
    if (worker) {
      await stop(worker);
    }
    await provider.close();
  }
  return reportNative(runs);
}

function reportNative(runs) {
  const pairs = runs
    .filter((r) => r.path === 'gateway')
    .map((gateway) => ({
      gateway,
      direct: runs.find((r) => r.path === 'direct' && r.lines === gateway.lines && r.round === gateway.round),
    }));
  const overhead = ({ gateway, direct }) => gateway.seconds - direct.seconds;
  const allowed = ({ direct }) => 0.1 * direct.seconds + NATIVE_POLL_SECONDS;
  const label = (r) =>
    `${r.path === 'direct' ? 'direct to the provider' : 'through this instance'}, ${fmt(r.lines)} lines${r.lines === NATIVE_LINES && NATIVE_ROUNDS > 1 ? `, round ${r.round}` : ''}`;
  const s = (value) => (value === undefined ? '' : value.toFixed(2));
  console.log(
    `\n(d) Native provider batches: a ${fmt(NATIVE_LINES)}-line chat batch on a provider's Batch API (another instance of this project: api, worker WORKER_CONCURRENCY=${BUSY_WORKER.WORKER_CONCURRENCY} WORKER_CHUNK_JOBS=${BUSY_WORKER.WORKER_CHUNK_JOBS}, stub latency ${STUB_LATENCY_MS} ms), create to completed; NATIVE_BATCH_POLL_SECONDS=${NATIVE_POLL_SECONDS}`,
  );
  // Outside the provider: the time through this instance less its provider batch's own created to completed,
  // the part of the overhead that does not move with how fast the provider ran this time.
  table([
    [
      '',
      'seconds',
      'ratio',
      'overhead s',
      'minus a poll',
      'target s',
      'met',
      'outside the provider s',
      'our worker RSS start / peak / end (peak while)',
    ],
    ...runs.map((r) => {
      const pair = pairs.find((p) => p.gateway === r);
      if (!pair) {
        return [label(r), s(r.seconds), '', '', '', '', '', '', ''];
      }
      return [
        label(r),
        s(r.seconds),
        (r.seconds / pair.direct.seconds).toFixed(2),
        s(overhead(pair)),
        s(overhead(pair) - NATIVE_POLL_SECONDS),
        `<= ${s(allowed(pair))}`,
        overhead(pair) <= allowed(pair) ? 'yes' : 'no',
        s(r.seconds - r.providerTotal),
        `${r.watched.start.toFixed(0)} / ${r.watched.peak.toFixed(0)} / ${r.watched.end.toFixed(0)} MiB (${r.peakIn})`,
      ];
    }),
  ]);
  console.log("  Where the time went (s), from both databases and the provider api's access lines:");
  const columns = [
    ['validate', 'validate'],
    ['shard queued', 'queued'],
    ['to upload', 'toUpload'],
    ['upload', 'upload'],
    ['create', 'create'],
    ['provider: validate', 'providerValidate'],
    ['run', 'providerRun'],
    ['finalize', 'providerFinalize'],
    ['noticed', 'noticed'],
    ['to download', 'toDownload'],
    ['download + copy', 'download'],
    ['stage ended', 'stageEnded'],
    ['our finalize', 'finalize'],
  ];
  table([
    ['', ...columns.map(([title]) => title)],
    ...runs.map((r) => [label(r), ...columns.map(([, key]) => s(r[key]))]),
  ]);
  for (const { gateway: r } of pairs.filter(
    (p, i) => pairs.findIndex((q) => q.gateway.lines === p.gateway.lines) === i,
  )) {
    console.log(
      `  ${fmt(r.lines)} lines (${fmtBytes(r.uploads.bytes)}) uploaded by the SDK, for comparison: to the provider ${s(r.uploads.direct)} s, to this instance ${s(r.uploads.ours)} s`,
    );
  }
  // Whether a phase is bound by our worker's CPU (its seconds near the phase's), or waits on something else.
  console.log('  CPU seconds used in each phase (of its wall seconds), sampled every 200 ms:');
  table([
    ['', ...(pairs[0]?.gateway.spans ?? []).map(([name]) => name)],
    ...pairs.flatMap(({ gateway: r }) =>
      Object.entries({ worker: 'our worker', providerApi: 'provider api', postgres: 'our PostgreSQL' }).map(
        ([name, title]) => [
          `${label(r)}: ${title}`,
          ...(r.spans ?? []).map(([, from, to]) => `${s(r.watched.cpuIn(name, from, to))} of ${s(between(from, to))}`),
        ],
      ),
    ),
  ]);
  // Which phase the worker's RSS grows in.
  console.log(`  Our worker's RSS at the end of each phase (MiB):`);
  table([
    ['', 'start', ...(pairs[0]?.gateway.spans ?? []).map(([name]) => name), 'end'],
    ...pairs.map(({ gateway: r }) => [
      label(r),
      r.watched.start.toFixed(0),
      ...(r.spans ?? []).map(([, , to]) => r.watched.rssAt(to)?.toFixed(0) ?? ''),
      r.watched.end.toFixed(0),
    ]),
  ]);
  for (const r of runs.filter((r) => r.path === 'direct')) {
    console.log(`  ${label(r)} ${phases(r, r.lines)}`);
  }
  for (const r of runs) {
    for (const problem of r.problems ?? []) {
      console.log(problem);
    }
  }
  // RSS peaks above a fresh worker's (before its warm-up pair): a size's first run against another's, each on a fresh
  // worker; later rounds on the same worker start where V8 left the heap, so the most over them is shown apart.
  const sizes = [...new Set(pairs.map((p) => p.gateway.lines))];
  const rssOf = ({ gateway }) => gateway.watched.peak - gateway.idleRss;
  const firstRss = (lines) => rssOf(pairs.find((p) => p.gateway.lines === lines));
  const mostRss = (lines) => Math.max(...pairs.filter((p) => p.gateway.lines === lines).map(rssOf));
  const perSize = sizes
    .map((lines) => {
      const rounds = pairs.filter((p) => p.gateway.lines === lines).length;
      const most = rounds > 1 ? ` (the most over its ${rounds} rounds +${fmt(mostRss(lines))})` : '';
      return `+${fmt(firstRss(lines))} MiB at ${fmt(lines)} lines${most}`;
    })
    .join(', ');
  console.log(`  our worker's RSS peak above a fresh worker's, in each size's first run: ${perSize}`);
  const largest = Math.max(...sizes);
  const rssRatio = largest > NATIVE_LINES ? firstRss(largest) / firstRss(NATIVE_LINES) : null;
  const rss =
    rssRatio === null
      ? `worker RSS ${perSize}`
      : `worker RSS peak ${rssRatio.toFixed(2)}x for ${largest / NATIVE_LINES}x the lines (${rssRatio <= 1.25 ? 'flat' : 'NOT flat'}: target <= 1.25x)`;
  console.log(`  ${rss}`);
  // The provider's own run moves by more than the allowance from one run to the next: the verdict is on the median
  // of the alternated rounds, and each round is shown above.
  const large = pairs.filter((p) => p.gateway.lines === NATIVE_LINES);
  const verdict = {
    overhead: median(large.map(overhead)),
    allowed: median(large.map(allowed)),
    outside: median(large.map(({ gateway }) => gateway.seconds - gateway.providerTotal)),
    met: large.filter((p) => overhead(p) <= allowed(p)).length,
  };
  const overheadMet = verdict.overhead <= verdict.allowed ? 'met' : 'NOT met';
  const headline = `${fmt(NATIVE_LINES)} lines, median of ${large.length} rounds: overhead ${s(verdict.overhead)} s (target <= ${s(verdict.allowed)} s: ${overheadMet}; met in ${verdict.met} of ${large.length} rounds), outside the provider ${s(verdict.outside)} s`;
  console.log(`  ${headline}`);
  const biggest = pairs.find((p) => p.gateway.lines === NATIVE_LARGE_LINES && NATIVE_LARGE_LINES > NATIVE_LINES);
  const atLargest = biggest
    ? `; ${fmt(NATIVE_LARGE_LINES)} lines: overhead ${s(overhead(biggest))} s (${((100 * (overhead(biggest) - NATIVE_POLL_SECONDS)) / biggest.direct.seconds).toFixed(0)} % + a poll)`
    : '';
  return `${headline}; ${rss}${atLargest}`;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// ---------------------------------------------------------------- main

async function main() {
  const only = (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only.filter((s) => !SECTIONS.includes(s));
  if (unknown.length) {
    throw new Error(`BENCH_ONLY: unknown section(s) ${unknown.join(', ')}; choose from ${SECTIONS.join(', ')}`);
  }
  const selected = SECTIONS.filter((s) => only.length === 0 || only.includes(s));

  await recreateDatabase(DB);
  admin = new pg.Client({ connectionString: DB });
  await admin.connect();
  redis = new Redis(REDIS, { maxRetriesPerRequest: 1 });
  await redis.flushdb(); // the bench's own db: no jobs left from an earlier run

  const apiPort = await freePort();
  const stubPort = await freePort();
  // At warn, as production runs: an access line per request would weigh on the reads, not on the baseline.
  const api = await start(
    'api',
    { PORT: String(apiPort), ADMIN_API_KEY: ADMIN, LOG_LEVEL: 'warn', BATCH_MAX_REQUESTS: NATIVE_MAX_REQUESTS },
    answers(apiPort),
  );
  await start(
    'stub-upstream',
    { STUB_PORT: String(stubPort), STUB_LATENCY_MS: String(STUB_LATENCY_MS) },
    /Stub upstream/,
  );
  const base = `http://127.0.0.1:${apiPort}`;
  const apiKey = await newWorkspaceKey(base, 'bench');
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0, timeout: 600_000 });
  const context = { client, api, base, apiKey, stubPort, stubUrl: `http://127.0.0.1:${stubPort}/v1` };

  if (WORKER_ARGS.length || Object.keys(WORKER_ENV).length) {
    console.log(
      `This instance's workers run with: ${[...Object.entries(WORKER_ENV).map(([k, v]) => `${k}=${v}`), 'node', ...WORKER_ARGS].join(' ')}`,
    );
  }
  const run = { read, upload, scale, direct, embeddings, native, 's3-upload': s3Upload };
  const summary = [];
  for (const name of selected) {
    const t = performance.now();
    const load = loadavg()[0].toFixed(2); // others' work on the machine makes the figures noisy: shown with each section
    let result;
    try {
      result = await run[name](context);
    } catch (error) {
      if (interrupted) {
        return;
      }
      console.error(`\n${name}: FAILED`, error);
      process.exitCode = 1;
      result = 'FAILED';
    }
    const seconds = (performance.now() - t) / 1000;
    console.log(`  (${name} took ${seconds.toFixed(0)} s; load average before it ${load})`);
    summary.push([name, result, `${seconds.toFixed(0)} s`, load]);
  }
  console.log('\nSummary');
  table([['section', 'result', 'took', 'load before'], ...summary]);
}

let cleaning;
let interrupted = false;
function cleanup() {
  cleaning ??= (async () => {
    await Promise.allSettled([...children].map(stop));
    await Promise.allSettled([...teardowns].map((teardown) => teardown()));
    await Promise.allSettled([admin?.end(), redis?.quit()]);
    rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the bench's processes`);
    interrupted = true;
    process.exitCode = 130;
    void cleanup().then(() => process.exit());
  });
}

main()
  .catch((error) => {
    if (interrupted) {
      return;
    }
    console.error(error);
    process.exitCode = 1;
  })
  .finally(cleanup);
