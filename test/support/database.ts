import { DataSource } from 'typeorm';
import { dataSourceOptions, runMigrations } from '@app/core';
import { TEST_DATABASE_URL } from './env';

/** A connection pool of `poolSize` to the test database, its migrations applied (for tests below the apps). */
export async function migratedDataSource(poolSize: number): Promise<DataSource> {
  await runMigrations(TEST_DATABASE_URL);
  return new DataSource(dataSourceOptions(TEST_DATABASE_URL, poolSize)).initialize();
}
