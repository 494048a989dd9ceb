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
// BENCH_ONLY=read,scale,direct,embeddings,upload,s3-upload (comma list, default all) runs only those sections.
// Sizes can be changed for quick runs: BENCH_SCALE_LINES, BENCH_DIRECT_LINES, BENCH_DIRECT_SECONDS,
// BENCH_EMBEDDING_LINES, BENCH_EMBEDDING_DIMS, BENCH_READ_SECONDS; BENCH_SCALE_ROUNDS=3 repeats the scaling pair.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
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
const DB_NAME = new URL(DB).pathname.slice(1);
const REDIS = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/12';
const ADMIN = 'bench-admin-key-0123456789';
const STUB_LATENCY_MS = 20;
// The upload section runs last: the 580 MiB it writes leaves the kernel flushing pages to disk for a while,
// which would weigh on whichever section came next.
// The read section runs first, before any batch work has grown the tables or warmed anything else.
const SECTIONS = ['read', 'scale', 'direct', 'embeddings', 'upload', 's3-upload'];
const int = (name, fallback) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
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
// What /health/live costs is the api's own floor: routing and an answer, no key, no query.
const READ_BASELINE_PATH = '/health/live';
// A high-concurrency worker: 200 upstream requests in flight, enough 500-line chunks at once to keep them busy.
const BUSY_WORKER = { WORKER_CONCURRENCY: String(DIRECT_CONCURRENCY), WORKER_CHUNK_JOBS: '8' };
// The Redis client name BullMQ gives a worker of the chunk queue (prefix `venna`, queue `batch-chunks`).
const CHUNK_WORKER_CLIENT = `venna:${Buffer.from('batch-chunks').toString('base64')}`;
const REDIS_DB = Number(/\/(\d+)$/.exec(REDIS)?.[1] ?? 0);

const work = mkdtempSync(join(tmpdir(), 'venna-bench-'));
const children = new Set();
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

/** Starts an app from dist/; resolves once `ready` (a regexp on its output, or an async predicate) holds. */
function start(app, env, ready) {
  // BENCH_PROFILE_DIR=<dir> writes a CPU profile of every api and worker (node --cpu-prof) there, to see what bounds a figure.
  const profile =
    (app === 'worker' || app === 'api') && process.env.BENCH_PROFILE_DIR
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
      : [];
  const child = spawn(process.execPath, [...profile, join(ROOT, `dist/apps/${app}/src/main.js`)], {
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
      if (child.exitCode !== null || child.signalCode !== null)
        return reject(new Error(`${app} exited:\n${child.output}`));
      if (Date.now() - began > 60_000) return reject(new Error(`${app} not ready after 60 s:\n${child.output}`));
      if (ready instanceof RegExp ? ready.test(child.output) : await ready()) return resolvePromise(child);
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
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

/** Chunk-queue workers connected to the bench's Redis db (each worker process holds one such connection). */
async function chunkWorkersOnline() {
  const list = await redis.client('LIST');
  return list
    .split('\n')
    .filter((line) => new RegExp(`(^| )db=${REDIS_DB}( |$)`).test(line))
    .map((line) => / name=(\S*)/.exec(line)?.[1] ?? '')
    .filter((name) => name === CHUNK_WORKER_CLIENT || name.startsWith(`${CHUNK_WORKER_CLIENT}:w:`)).length;
}

/** `count` fresh worker processes, resolved when all of them listen to the chunk queue (they log at warn only). */
async function startWorkers(count, stubUrl, env = {}) {
  if ((await chunkWorkersOnline()) !== 0) throw new Error('Workers of an earlier section are still connected to Redis');
  const workers = [];
  const ready = async () => (await chunkWorkersOnline()) >= count;
  const started = Array.from({ length: count }, () =>
    // Several workers on one machine: their health and metrics listeners (not measured here) would share a port.
    start('worker', { UPSTREAM_BASE_URL: stubUrl, WORKER_HTTP_PORT: '0', ...env }, ready).then((w) => workers.push(w)),
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
    if (!out.write(`${JSON.stringify(lineOf(i))}\n`)) await once(out, 'drain');
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
      if (done !== progress || batch.status === 'finalizing') [progress, progressAt] = [done, Date.now()];
      if (Date.now() - progressAt > 120_000)
        throw new Error(`Batch ${batch.id} made no progress for 120 s (status ${batch.status}, ${done} done)`);
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
  if (first === undefined || marks.includes(undefined)) return 'phases: (not every line answered)';
  const rate = (from, to) => (to > from ? fmt(lines / 4 / (to - from)) : '-'); // '-': within one 100 ms poll
  const quarters = marks.map((end, i) => rate(i === 0 ? first : marks[i - 1], end));
  return `phases: first answer after ${first.toFixed(1)} s; answering ${(marks[3] - first).toFixed(1)} s (req/s by quarter ${quarters.join(' / ')}); last answer to completed ${(seconds - marks[3]).toFixed(1)} s`;
}

/** Flags (and fails the run for) a batch that did not complete every line. */
function checkComplete(label, batch, lines) {
  if (batch.status === 'completed' && batch.request_counts.completed === lines && batch.request_counts.failed === 0)
    return '';
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
    for await (const chunk of createReadStream(large)) if (!hugeOut.write(chunk)) await once(hugeOut, 'drain');
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
  for (const path of [small, large, huge, join(work, 'copy.jsonl')]) rmSync(path, { force: true });
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
      if (!apis.has(key)) apis.set(key, await startApi(env));
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
      if (completed.file?.bytes !== bytes) throw new Error(`${label}: a file of ${completed.file?.bytes} bytes`);
      results.push({ label, sendMs, completeMs, apiCpuMs });
    }
  } finally {
    for (const api of apis.values()) await stop(api);
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
  for (const [, path, withKey] of targets) await shoot(path, withKey, 2); // warm-up: connections, JIT, caches
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
  const median = (count) => {
    const sorted = runs
      .filter((r) => r.count === count)
      .map((r) => r.seconds)
      .sort((a, b) => a - b);
    return sorted.length % 2
      ? sorted[(sorted.length - 1) / 2]
      : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  };
  const ratio = median(1) / median(2);
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
  for (const r of runs) console.log(`  ${label(r)} ${phases(r, SCALE_LINES)}`);
  for (const r of runs) {
    const problem = checkComplete(label(r), r.batch, SCALE_LINES);
    if (problem) console.log(problem);
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
  if (problem) console.log(problem);
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
    if (Number(counters.checkpoints) > done) return counters;
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
  for (const r of [small, large]) console.log(`  ${r.dims} dims ${phases(r, EMBEDDING_LINES)}`);
  for (const r of [small, large]) {
    const problem = checkComplete(`${r.dims} dims`, r.batch, EMBEDDING_LINES);
    if (problem) console.log(problem);
  }
  return `${EMBEDDING_DIMS} dims: ${fmt(rps(large))} req/s (${(rps(large) / rps(small)).toFixed(2)} of 8 dims), WAL ${x(large.walBytes, large.outputBytes)} the output file`;
}

// ---------------------------------------------------------------- main

async function main() {
  const only = (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only.filter((s) => !SECTIONS.includes(s));
  if (unknown.length)
    throw new Error(`BENCH_ONLY: unknown section(s) ${unknown.join(', ')}; choose from ${SECTIONS.join(', ')}`);
  const selected = SECTIONS.filter((s) => only.length === 0 || only.includes(s));

  admin = new pg.Client({ connectionString: DB.replace(/\/[^/]+$/, '/postgres') });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${DB_NAME}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${DB_NAME}"`);
  await admin.end();
  admin = new pg.Client({ connectionString: DB });
  await admin.connect();
  redis = new Redis(REDIS, { maxRetriesPerRequest: 1 });
  await redis.flushdb(); // the bench's own db: no jobs left from an earlier run

  const apiPort = await freePort();
  const stubPort = await freePort();
  // At warn, as production runs: an access line per request would weigh on the reads, not on the baseline.
  const api = await start('api', { PORT: String(apiPort), ADMIN_API_KEY: ADMIN, LOG_LEVEL: 'warn' }, answers(apiPort));
  await start(
    'stub-upstream',
    { STUB_PORT: String(stubPort), STUB_LATENCY_MS: String(STUB_LATENCY_MS) },
    /Stub upstream/,
  );
  const base = `http://127.0.0.1:${apiPort}`;
  const call = async (path, body) =>
    (
      await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    ).json();
  const ws = await call('/admin/workspaces', { name: 'bench' });
  const key = await call(`/admin/workspaces/${ws.id}/api-keys`, {});
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key.key, maxRetries: 0, timeout: 600_000 });
  const context = { client, api, base, apiKey: key.key, stubPort, stubUrl: `http://127.0.0.1:${stubPort}/v1` };

  const run = { read, upload, scale, direct, embeddings, 's3-upload': s3Upload };
  const summary = [];
  for (const name of selected) {
    const t = performance.now();
    const load = loadavg()[0].toFixed(2); // others' work on the machine makes the figures noisy: shown with each section
    let result;
    try {
      result = await run[name](context);
    } catch (error) {
      if (interrupted) return;
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
    if (interrupted) return;
    console.error(error);
    process.exitCode = 1;
  })
  .finally(cleanup);
