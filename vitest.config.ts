import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const alias = { '@app/core': resolve(__dirname, 'libs/core/src') };

export default defineConfig({
  resolve: { alias },
  test: {
    // Two cores: one test file at a time; e2e files boot their own processes.
    fileParallelism: false,
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        resolve: { alias },
        test: { name: 'unit', include: ['apps/**/*.spec.ts', 'libs/**/*.spec.ts'] },
      },
      {
        resolve: { alias },
        test: {
          name: 'e2e',
          include: [
            'test/integration/**/*.integration-spec.ts',
            'test/e2e/**/*.e2e-spec.ts',
            'test/reliability/**/*.reliability-spec.ts',
          ],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          // The end-to-end files that touch storage, once more with STORAGE_DRIVER=s3 against an S3-compatible
          // server each file starts (test/support/s3-server.ts).
          name: 'e2e-s3',
          include: [
            'test/e2e/files.e2e-spec.ts',
            'test/e2e/batches.e2e-spec.ts',
            'test/e2e/finalize.e2e-spec.ts',
            'test/e2e/sweeper.e2e-spec.ts',
            'test/e2e/uploads.e2e-spec.ts',
            'test/e2e/batch-results.e2e-spec.ts',
          ],
          env: { TEST_STORAGE_DRIVER: 's3' },
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          // Outages against PostgreSQL and Redis servers the tests start themselves: minutes per case;
          // `npm run test:faults` runs only them.
          name: 'faults',
          include: ['test/faults/**/*.fault-spec.ts'],
          globalSetup: ['test/support/apps-built.ts'],
          testTimeout: 240_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
