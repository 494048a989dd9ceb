import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { Client } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { batchLines, numbered, readResults, waitForBatch } from '../support/batches';
import { flushTestRedis } from '../support/clients';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';
import { AppProcess, freePort } from '../support/processes';

const ROOT = resolve(__dirname, '../..');

const serverUrl = (database: string) => {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${database}`;
  return url.toString();
};

/** The processes whose parent is `pid`. */
const childrenOf = (pid: number): number[] =>
  execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((child) => child > 0);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * `npm start` on a machine with PostgreSQL and Redis: the script is given only the overrides that keep it off the
 * shared defaults (a database that does not exist yet, the suite's Redis db, a data dir and ports of its own), and
 * everything else is its own doing: the database, the demo key, the api, the worker and the stub.
 */
describe('npm start', () => {
  const database = `venna_start_${process.pid}_${Date.now()}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'venna-start-'));
  let script: AppProcess | undefined;
  let children: number[] = [];

  afterAll(async () => {
    await script?.stop('SIGKILL');
    children.filter(alive).forEach((pid) => process.kill(pid, 'SIGKILL')); // left behind only by a failure
    const admin = new Client({ connectionString: serverUrl('postgres') });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  });

  it('creates the database, prints the URL and a key that runs a batch, and stops every child on SIGTERM', async () => {
    await flushTestRedis();
    const [port, stubPort] = [await freePort(), await freePort()];
    script = new AppProcess(
      spawn(process.execPath, ['scripts/start-all.mjs'], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          DATABASE_URL: serverUrl(database),
          REDIS_URL: TEST_REDIS_URL,
          VENNA_DATA_DIR: dataDir,
          PORT: String(port),
          STUB_PORT: String(stubPort),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    await script.waitForOutput(/Key of workspace "default": vk_\w+/, 60_000);
    expect(script.output).toContain(`Created database "${database}"`);
    expect(script.output).toContain(`http://127.0.0.1:${port}/v1`);
    expect(script.output).toContain(`http://127.0.0.1:${port}/docs`);
    const key = /Key of workspace "default": (vk_\w+)/.exec(script.output)![1];
    expect(readFileSync(join(dataDir, 'demo-api-key'), 'utf8').trim()).toBe(key);

    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: key, maxRetries: 0 });
    const input = batchLines('/v1/chat/completions', 'demo', numbered(3));
    const file = await client.files.create({ file: await toFile(Buffer.from(input), 'in.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const batch = await waitForBatch(client, created.id);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 3, completed: 3, failed: 0 } });
    const output = await readResults(client, batch.output_file_id);
    expect(output.map((line) => line.custom_id).sort()).toEqual(['req-0', 'req-1', 'req-2']);
    expect(existsSync(join(dataDir, 'files')) && readdirSync(join(dataDir, 'files')).length).toBeGreaterThan(0);

    children = childrenOf(script.child.pid!);
    expect(children).toHaveLength(3); // api, worker, stub
    script.child.kill('SIGTERM');
    expect(await script.waitForExit()).toBe(0);
    expect(children.filter(alive)).toEqual([]);
  });
});
