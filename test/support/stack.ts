import { Client } from 'pg';
import type { StubOptions } from '../../apps/stub-upstream/src/stub-upstream';
import { type StubHandle, startStub } from './batches';
import { flushTestRedis, newTenant, type Tenant } from './clients';
import { TEST_DATABASE_URL } from './env';
import { type ApiHandle, type AppProcess, startApi, startWorker } from './processes';
import { startTestStorage, type TestStorage } from './storage';

type Env = Record<string, string | undefined>;

export interface StackOptions {
  /** A store whose settings both apps get: this run's driver (TEST_STORAGE_DRIVER), or 's3'. Without: the api's own folder. */
  storage?: boolean | 's3';
  /** A stub upstream with these options (a worker gets one anyway). */
  stub?: StubOptions;
  /** The api's variables, over the store's. */
  api?: Env;
  /** A worker with these variables, over the store's. */
  worker?: Env;
  /** A PostgreSQL client on the test database, to look behind the api. */
  db?: boolean;
}

/** What startStack started, and a tenant (workspace and key) of the api. A part not asked for is undefined. */
export interface Stack {
  storage: TestStorage;
  stub: StubHandle;
  api: ApiHandle;
  worker: AppProcess;
  tenant: Tenant;
  db: Client;
  /** Stops everything, the last started first. */
  stop(): Promise<void>;
}

/**
 * The processes an end-to-end file runs against, for beforeAll: Redis flushed first (a job an earlier file left
 * would run on this file's worker), then the parts asked for. A start that fails stops what it had started.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const stops: (() => Promise<unknown>)[] = [];
  const stack = {
    stop: async () => {
      for (const stop of stops.splice(0).reverse()) {
        await stop();
      }
    },
  } as Stack;
  try {
    await flushTestRedis();
    if (options.storage) {
      stack.storage = await startTestStorage(options.storage === 's3' ? 's3' : undefined);
      stops.push(() => stack.storage.stop());
    }
    if (options.stub || options.worker) {
      stack.stub = await startStub(options.stub);
      stops.push(() => stack.stub.close());
    }
    const storageEnv = stack.storage?.env ?? {};
    stack.api = await startApi({ ...storageEnv, ...options.api });
    stops.push(() => stack.api.stop());
    if (options.worker) {
      stack.worker = await startWorker(stack.stub.url, stack.api.storageDir, { ...storageEnv, ...options.worker });
      stops.push(() => stack.worker.stop());
    }
    stack.tenant = await newTenant(stack.api.url);
    if (options.db) {
      stack.db = new Client({ connectionString: TEST_DATABASE_URL });
      await stack.db.connect();
      stops.push(() => stack.db.end());
    }
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}
