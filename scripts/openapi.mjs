// npm run openapi: writes openapi.json, the API contract as /docs-json serves it, from the built api (no PostgreSQL
// or Redis needed). npm run openapi:check writes nothing: it fails, printing the difference, when the committed
// file is not what the api describes, so a change to the contract shows as a diff in review.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { offlineOpenApiDocument } from '../dist/apps/api/src/swagger.js';

const COMMITTED = resolve(import.meta.dirname, '..', 'openapi.json');
const generated = `${JSON.stringify(await offlineOpenApiDocument(), null, 2)}\n`;

if (!process.argv.includes('--check')) {
  writeFileSync(COMMITTED, generated);
  console.log(`Wrote ${COMMITTED}`);
} else if (readFileSync(COMMITTED, 'utf8') !== generated) {
  const dir = mkdtempSync(join(tmpdir(), 'openapi-'));
  const fresh = join(dir, 'openapi.json');
  writeFileSync(fresh, generated);
  spawnSync(
    'diff',
    ['-u', '--label', 'openapi.json (committed)', '--label', 'openapi.json (from the api)', COMMITTED, fresh],
    {
      stdio: 'inherit',
    },
  );
  rmSync(dir, { recursive: true, force: true });
  console.error('\nopenapi.json is not the contract the api describes: run `npm run openapi` and commit the result.');
  process.exitCode = 1;
} else {
  console.log('openapi.json matches the api.');
}
