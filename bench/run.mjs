// npm run bench: throughput figures, each with a baseline measured in the same run.
//  1. Upload: streaming a large JSONL through POST /v1/files (with batch checks) vs. a plain local file copy;
//     peak RSS of the api for a small and a large upload shows memory does not grow with file size.
//  2. Batch: requests/s of a batch through api + worker + stub vs. the same requests sent straight to the stub
//     with the same concurrency (the ceiling), i.e. what queueing, checkpointing and file writing cost.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import pg from 'pg';
import { Agent, request } from 'undici';

const ROOT = resolve(import.meta.dirname, '..');
const DB = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/venna_bench';
const REDIS = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/12';
const ADMIN = 'bench-admin-key-0123456789';
const work = mkdtempSync(join(tmpdir(), 'venna-bench-'));
const children = [];

const port = async () => {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const p = s.address().port;
  s.close();
  return p;
};

function start(app, env, ready) {
  const child = spawn(process.execPath, [join(ROOT, `dist/apps/${app}/apps/${app}/src/main.js`)], {
    env: { PATH: process.env.PATH, DATABASE_URL: DB, REDIS_URL: REDIS, STORAGE_DIR: join(work, 'files'), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolvePromise, reject) => {
    const timer = setInterval(() => {
      if (ready.test(out)) {
        clearInterval(timer);
        resolvePromise(child);
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`${app} exited:\n${out}`));
      }
    }, 50);
  });
}

const peakRssMb = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const currentRssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

async function writeJsonl(path, lines) {
  const out = createWriteStream(path);
  for (let i = 0; i < lines; i++) {
    const line = JSON.stringify({ custom_id: `r-${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'bench', messages: [{ role: 'user', content: `bench request ${i} ${'lorem ipsum '.repeat(15)}` }] } });
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return statSync(path).size;
}

async function main() {
  const admin = new pg.Client({ connectionString: DB.replace(/\/[^/]+$/, '/postgres') });
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS venna_bench WITH (FORCE)');
  await admin.query('CREATE DATABASE venna_bench');
  await admin.end();

  const apiPort = await port();
  const stubPort = await port();
  const api = await start('api', { PORT: String(apiPort), ADMIN_API_KEY: ADMIN, LOG_LEVEL: 'log' }, /Listening on port/);
  await start('stub-upstream', { STUB_PORT: String(stubPort) }, /Stub upstream/);
  const base = `http://127.0.0.1:${apiPort}`;
  const call = async (path, body) =>
    (await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
  const ws = await call('/admin/workspaces', { name: 'bench' });
  const key = await call(`/admin/workspaces/${ws.id}/api-keys`, {});
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key.key, maxRetries: 0, timeout: 600_000 });

  // 1. Upload: the same file through the api and through a plain copy; then a file 3x larger, to see memory stay flat.
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
  const mib = (bytes) => bytes / 1024 / 1024;
  const mb = mib(largeBytes);
  console.log(`\nUpload of ${mb.toFixed(0)} MiB (450,000 JSONL lines), streamed by the openai SDK (chunked, no Content-Length)`);
  console.log(`  baseline: local file copy          ${(mb / (copyMs / 1000)).toFixed(0)} MiB/s`);
  console.log(`  POST /v1/files                     ${(mb / (uploadMs / 1000)).toFixed(0)} MiB/s  (ratio ${(copyMs / uploadMs).toFixed(2)} of baseline)`);
  console.log(`  api peak RSS: idle ${rssIdle.toFixed(0)} MiB; after ${mib(smallBytes).toFixed(1)} MiB ${peakSmall.toFixed(0)} MiB; after ${mb.toFixed(0)} MiB ${peakLarge.toFixed(0)} MiB; after ${(3 * mb).toFixed(0)} MiB ${peakHuge.toFixed(0)} MiB (3x the bytes: ${(peakHuge / peakLarge).toFixed(2)}x the peak)`);

  // 2. Batch throughput
  const requests = Number(process.env.BENCH_REQUESTS ?? 5000);
  const concurrency = 32;
  const worker = await start(
    'worker',
    { UPSTREAM_BASE_URL: `http://127.0.0.1:${stubPort}/v1`, WORKER_CONCURRENCY: String(concurrency), WORKER_CHUNK_JOBS: '4', BATCH_CHUNK_SIZE: '500', LOG_LEVEL: 'log' },
    /Worker started/,
  );
  const input = join(work, 'batch.jsonl');
  await writeJsonl(input, requests);
  const lines = readFileSync(input, 'utf8').trim().split('\n').map((l) => JSON.parse(l).body);

  const agent = new Agent({ connections: concurrency });
  t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < lines.length) {
        const body = lines[next++];
        const res = await request(`http://127.0.0.1:${stubPort}/v1/chat/completions`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        await res.body.text();
      }
    }),
  );
  const directMs = performance.now() - t;
  await agent.close();

  const file = await client.files.create({ file: createReadStream(input), purpose: 'batch' });
  t = performance.now();
  const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  let batch = created;
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
    await new Promise((r) => setTimeout(r, 100));
    batch = await client.batches.retrieve(created.id);
  }
  const batchMs = performance.now() - t;
  console.log(`\nBatch of ${requests.toLocaleString()} chat requests, ${concurrency} in flight, stub upstream with no latency`);
  console.log(`  baseline: straight to the stub     ${(requests / (directMs / 1000)).toFixed(0)} req/s`);
  console.log(`  batch create → completed           ${(requests / (batchMs / 1000)).toFixed(0)} req/s  (ratio ${(directMs / batchMs).toFixed(2)} of baseline; status ${batch.status}, ${batch.request_counts.completed} completed)`);
  console.log(`  worker peak RSS                    ${peakRssMb(worker.pid).toFixed(0)} MiB`);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const child of children) child.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  });
