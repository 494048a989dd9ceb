import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { TEST_DATABASE_URL } from './env';

/** A fresh test database per run; the api under test applies the migrations itself at start-up. */
export default async function setup(): Promise<void> {
  for (const app of ['api', 'worker', 'stub-upstream']) {
    if (!existsSync(resolve(__dirname, `../../dist/apps/${app}/apps/${app}/src/main.js`))) {
      throw new Error(`dist/apps/${app} is missing: run "npm run build" first (npm test does)`);
    }
  }
  const url = new URL(TEST_DATABASE_URL);
  const database = url.pathname.slice(1);
  url.pathname = '/postgres';
  const admin = new Client({ connectionString: url.toString() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${database}"`);
  await admin.end();
}
