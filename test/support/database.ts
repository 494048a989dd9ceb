import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions, runMigrations } from '@app/core';
import { TEST_DATABASE_URL } from './env';

/** A connection pool of `poolSize` to the test database, its migrations applied (for tests below the apps). */
export async function migratedDataSource(poolSize: number): Promise<DataSource> {
  await runMigrations(TEST_DATABASE_URL);
  return new DataSource(dataSourceOptions(TEST_DATABASE_URL, poolSize)).initialize();
}

/** Drops the database a URL names (closing its connections) and creates it empty. */
export async function recreateDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const database = url.pathname.slice(1);
  url.pathname = '/postgres';
  const admin = new Client({ connectionString: url.toString() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${database}"`);
  await admin.end();
}
