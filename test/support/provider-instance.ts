import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import type { StubOptions } from '../../apps/stub-upstream/src/stub-upstream';
import { type StubHandle, startStub } from './batches';
import { newTenant, type Tenant } from './clients';
import { recreateDatabase } from './database';
import { TEST_DATABASE_URL, TEST_REDIS_DB, TEST_REDIS_HOST } from './env';
import { type ApiHandle, type AppProcess, startApi, startWorker } from './processes';

type Env = Record<string, string | undefined>;

/** A database and a Redis db of the provider's own, beside the suite's. */
const PROVIDER_DATABASE_URL = TEST_DATABASE_URL.replace(/\/([^/]*)$/, '/$1_provider');
const PROVIDER_REDIS_URL = `redis://${TEST_REDIS_HOST}/${(TEST_REDIS_DB + 2) % 16}`;

/**
 * A second instance of this project (its api, worker and stub upstream, database and Redis db), standing in
 * for a provider's OpenAI-compatible Files and Batches API: what a native upstream of the instance under test
 * forwards its shards to. Not a mock: the provider validates, runs and expires batches as the product does.
 */
export interface ProviderInstance {
  /** Base URL with its /v1 prefix, as an upstream's base_url. */
  url: string;
  api: ApiHandle;
  worker: AppProcess;
  stub: StubHandle;
  /** The workspace whose key the native upstream uses. */
  tenant: Tenant;
  db: Client;
  stop(): Promise<void>;
}

export async function startProviderInstance(
  options: { api?: Env; worker?: Env; stub?: StubOptions } = {},
): Promise<ProviderInstance> {
  await recreateDatabase(PROVIDER_DATABASE_URL);
  const redis = new Redis(PROVIDER_REDIS_URL);
  await redis.flushdb();
  await redis.quit();
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) {
      await step();
    }
  };
  try {
    const stub = await startStub(options.stub);
    stops.push(() => stub.close());
    const env = { DATABASE_URL: PROVIDER_DATABASE_URL, REDIS_URL: PROVIDER_REDIS_URL };
    const api = await startApi({ ...env, ...options.api });
    stops.push(() => api.stop());
    const worker = await startWorker(stub.url, api.storageDir, { ...env, ...options.worker });
    stops.push(() => worker.stop());
    const tenant = await newTenant(api.url, 'provider-account');
    const db = new Client({ connectionString: PROVIDER_DATABASE_URL });
    await db.connect();
    stops.push(() => db.end());
    return { url: `${api.url}/v1`, api, worker, stub, tenant, db, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** An UPSTREAMS_FILE (YAML) holding these entries; the worker reads keys from the variables they name. */
export function upstreamsFile(entries: Record<string, unknown>[]): string {
  const path = join(mkdtempSync(join(tmpdir(), 'venna-upstreams-')), 'upstreams.json');
  writeFileSync(path, JSON.stringify({ upstreams: entries }));
  return path;
}
