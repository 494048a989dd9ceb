import { Client } from 'pg';
import assertAppsBuilt from './apps-built';
import { TEST_DATABASE_URL } from './env';

/** A fresh test database per run; the api under test applies the migrations itself at start-up. */
export default async function setup(): Promise<void> {
  assertAppsBuilt();
  // Two projects (e2e, e2e-s3) share this setup: the database is made once per run, never under a running file.
  if (process.env.VENNA_TEST_DATABASE_MADE === TEST_DATABASE_URL) {
    return;
  }
  process.env.VENNA_TEST_DATABASE_MADE = TEST_DATABASE_URL;
  const url = new URL(TEST_DATABASE_URL);
  const database = url.pathname.slice(1);
  url.pathname = '/postgres';
  const admin = new Client({ connectionString: url.toString() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${database}"`);
  await admin.end();
}
