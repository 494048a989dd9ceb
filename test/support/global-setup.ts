import assertAppsBuilt from './apps-built';
import { recreateDatabase } from './database';
import { TEST_DATABASE_URL } from './env';

/** A fresh test database per run; the api under test applies the migrations itself at start-up. */
export default async function setup(): Promise<void> {
  assertAppsBuilt();
  // Two projects (e2e, e2e-s3) share this setup: the database is made once per run, never under a running file.
  if (process.env.VENNA_TEST_DATABASE_MADE === TEST_DATABASE_URL) {
    return;
  }
  process.env.VENNA_TEST_DATABASE_MADE = TEST_DATABASE_URL;
  await recreateDatabase(TEST_DATABASE_URL);
}
