import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import {
  BatchRepository,
  BatchTransitions,
  FileRepository,
  LocalDiskStorage,
  PreparedReads,
  ProviderBatchRepository,
  ResultJournalRepository,
  WorkspaceRepository,
} from '@app/core';
import { ApiKeyCache } from '../../apps/api/src/auth/api-key-cache';
import { ApiKeyGuard } from '../../apps/api/src/auth/api-key.guard';
import { BatchAdmission } from '../../apps/api/src/batches/batch-admission.service';
import { BatchesService } from '../../apps/api/src/batches/batches.service';
import { BatchEstimateService } from '../../apps/api/src/batches/estimate/batch-estimate.service';
import { PriceTable } from '../../apps/api/src/batches/estimate/price-table';
import { TallyThreads } from '../../apps/api/src/batches/estimate/tally-threads';
import { WorkspaceBudget } from '../../apps/api/src/budgets/workspace-budget.service';
import type { ApiEnvironment } from '../../apps/api/src/config/api-environment';
import { FilesService } from '../../apps/api/src/files/files.service';
import { AuthFailureLimiter } from '../../apps/api/src/rate-limit/auth-failure-limiter';
import type { ApiRedis } from '../../apps/api/src/redis/api-redis';

/** Every repository over one DataSource, wired as RepositoriesModule wires them (one PreparedReads for all). */
export function repositoriesOver(dataSource: DataSource, { readCoalescing = true } = {}) {
  const reads = new PreparedReads(dataSource, { READ_COALESCING: readCoalescing });
  const transitions = new BatchTransitions(dataSource);
  const files = new FileRepository(dataSource, reads);
  return {
    reads,
    transitions,
    files,
    batches: new BatchRepository(dataSource, transitions, reads, files),
    providerBatches: new ProviderBatchRepository(dataSource),
    journal: new ResultJournalRepository(dataSource),
    workspaces: new WorkspaceRepository(dataSource, reads),
  };
}

export type Repositories = ReturnType<typeof repositoriesOver>;

/** The api's FilesService on its repository, storing in a directory of its own unless given one. */
export const filesServiceOver = (
  repositories: Repositories,
  storageDir = mkdtempSync(join(tmpdir(), 'venna-files-')),
): FilesService => new FilesService(repositories.files, new LocalDiskStorage(storageDir));

/** The api's BatchesService as the api wires it: admission by open-batch limit and budget, estimates, the queue. */
export function batchesServiceOver(
  repositories: Repositories,
  files: FilesService,
  queue: Queue,
  env: ApiEnvironment,
): BatchesService {
  const storage = new LocalDiskStorage(env.STORAGE_DIR);
  const estimates = new BatchEstimateService(files, new PriceTable(), env, new TallyThreads(env), storage);
  const admission = new BatchAdmission(
    repositories.batches,
    new WorkspaceBudget(repositories.workspaces),
    estimates,
    env,
  );
  return new BatchesService(repositories.batches, queue, files, repositories.providerBatches, admission, env);
}

/** The api's key guard, with its cache and failure limiter on the given Redis. */
export function apiKeyGuardOver(
  repositories: Repositories,
  redis: ApiRedis,
  env: ApiEnvironment,
): { guard: ApiKeyGuard; cache: ApiKeyCache } {
  const cache = new ApiKeyCache(redis, env);
  return { guard: new ApiKeyGuard(repositories.workspaces, cache, new AuthFailureLimiter(redis, env)), cache };
}
