// `npm start`: runs the built api, worker and stub upstream together against DATABASE_URL and REDIS_URL,
// for machines without Docker. Ctrl-C stops all three (the worker drains first).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

// No well-known key: a demo key is made on the first start, kept in .data/demo-api-key, and printed.
const DEMO_KEY_FILE = './.data/demo-api-key';
function demoKey() {
  if (!existsSync(DEMO_KEY_FILE)) {
    mkdirSync('./.data', { recursive: true });
    writeFileSync(DEMO_KEY_FILE, `vk_${randomBytes(20).toString('hex')}\n`, { mode: 0o600 });
  }
  return readFileSync(DEMO_KEY_FILE, 'utf8').trim();
}

const env = {
  STORAGE_DIR: './.data/files',
  HOST: '127.0.0.1',
  WORKER_HTTP_HOST: '127.0.0.1',
  STUB_HOST: '127.0.0.1',
  ...process.env,
};
env.BOOTSTRAP_API_KEY ??= demoKey();
process.stdout.write(
  `Venna on http://${env.HOST}:${env.PORT ?? 3000} (Swagger UI at /docs); key of workspace "default": ${env.BOOTSTRAP_API_KEY}\n`,
);
const withStub = !process.env.UPSTREAM_BASE_URL;
if (withStub) {
  env.UPSTREAM_BASE_URL = `http://127.0.0.1:${env.STUB_PORT ?? 4010}/v1`;
}
const apps = [
  ['api', 'dist/apps/api/src/main.js'],
  ['worker', 'dist/apps/worker/src/main.js'],
  ...(withStub ? [['stub', 'dist/apps/stub-upstream/src/main.js']] : []),
];
const children = apps.map(([name, entry]) => {
  const child = spawn(process.execPath, [entry], { env, stdio: 'inherit' });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`${name} exited (${signal ?? code}); stopping the others\n`);
      stop();
    }
  });
  return child;
});
let stopping = false;
function stop() {
  stopping = true;
  for (const child of children) child.kill('SIGTERM');
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
