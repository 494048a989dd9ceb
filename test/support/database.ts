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

/** A workspace row of its own, for tests below the apps. */
export async function insertWorkspace(dataSource: DataSource, id: string): Promise<void> {
  await dataSource.query(`INSERT INTO workspaces (id, name) VALUES ($1, $1)`, [id]);
}

/** A chat batch row `in_progress` for a day, of `requestTotal` requests, in a workspace `insertWorkspace` made. */
export async function insertRunningBatch(
  dataSource: DataSource,
  id: string,
  workspaceId: string,
  requestTotal: number,
): Promise<void> {
  await dataSource.query(
    `INSERT INTO batches (id, workspace_id, endpoint, input_file_id, completion_window, status, expires_at, request_total)
     VALUES ($1, $2, '/v1/chat/completions', 'file-x', '24h', 'in_progress', clock_timestamp() + interval '1 day', $3)`,
    [id, workspaceId, requestTotal],
  );
}
