// `npm start`: runs the built api, worker and stub upstream together against DATABASE_URL and REDIS_URL,
// for machines without Docker. Ctrl-C stops all three (the worker drains first).
import { spawn } from 'node:child_process';

const env = {
  STORAGE_DIR: './.data/files',
  BOOTSTRAP_API_KEY: 'vk_demo00000000000000000000000000000000',
  ...process.env,
};
const withStub = !process.env.UPSTREAM_BASE_URL;
if (withStub) {
  env.UPSTREAM_BASE_URL = `http://127.0.0.1:${env.STUB_PORT ?? 4010}/v1`;
}
const apps = [
  ['api', 'dist/apps/api/apps/api/src/main.js'],
  ['worker', 'dist/apps/worker/apps/worker/src/main.js'],
  ...(withStub ? [['stub', 'dist/apps/stub-upstream/apps/stub-upstream/src/main.js']] : []),
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
