import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHandle, startApi } from '../support/processes';

/**
 * `npm run openapi` builds the document without a running api (Nest's preview mode); this holds it to the one a
 * running api serves, so the committed contract is the served one.
 */
describe('the committed API contract', () => {
  let api: ApiHandle;

  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(async () => {
    await api?.stop();
  });

  it('openapi.json is the document /docs-json serves', async () => {
    const committed = JSON.parse(readFileSync(join(__dirname, '../../openapi.json'), 'utf8'));
    const response = await fetch(`${api.url}/docs-json`);

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(committed);
  });
});
