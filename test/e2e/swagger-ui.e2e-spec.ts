import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newTenant, type Tenant } from '../support/clients';
import { type ApiHandle, startApi } from '../support/processes';

/** Debian's Chromium (`.ci/run` installs it when missing); playwright-core never downloads a browser of its own. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The interactive docs as a person uses them: a real browser authorises, uploads through "Try it out", reads the answer. */
describe('Swagger UI in a real browser', () => {
  let api: ApiHandle;
  let tenant: Tenant;
  let profile: string;
  let browser: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    api = await startApi();
    tenant = await newTenant(api.url);
    profile = mkdtempSync(join(tmpdir(), 'venna-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    page = await browser.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    if (profile) {
      rmSync(profile, { recursive: true, force: true });
    }
    await api?.stop();
  });

  it('authorises with a workspace key, uploads a batch file through "Try it out", and shows the File object', async () => {
    await page.goto(`${api.url}/docs`);

    await page.locator('button.authorize', { hasText: 'Authorize' }).first().click();
    const scheme = page.locator('.auth-container').filter({ hasText: 'workspace-key' });
    await scheme.locator('input').fill(tenant.key);
    await scheme.locator('button.authorize', { hasText: 'Authorize' }).click();
    await expect.poll(() => scheme.locator('button', { hasText: 'Logout' }).isVisible()).toBe(true);
    await scheme.locator('button.btn-done', { hasText: 'Close' }).click();
    // The key lives in the page only: nothing another script of the origin, or the next visitor, could read.
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
    expect(stored).not.toContain(tenant.key);

    const operation = page.locator('.opblock-post').filter({ has: page.locator('[data-path="/v1/files"]') });
    await operation.locator('.opblock-summary').click();
    await operation.getByRole('button', { name: 'Try it out' }).click();
    const content = '{"custom_id":"ui-1","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}\n';
    await operation.locator('input[type="file"]').setInputFiles({
      name: 'from-the-browser.jsonl',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(content),
    });
    await operation.locator('tr[data-property-name="purpose"] select').selectOption('batch');
    await operation.getByRole('button', { name: 'Execute' }).click();

    const response = operation.locator('.live-responses-table .response').first();
    await expect.poll(() => response.locator('.response-col_status').innerText(), { timeout: 15_000 }).toBe('200');
    const shown = JSON.parse(await response.locator('.response-col_description pre').first().innerText()) as {
      id: string;
      object: string;
      purpose: string;
      filename: string;
      bytes: number;
    };
    expect(shown).toMatchObject({
      object: 'file',
      purpose: 'batch',
      filename: 'from-the-browser.jsonl',
      bytes: Buffer.byteLength(content),
    });
    expect(shown.id).toMatch(/^file-[0-9A-Za-z]{24}$/);

    // The upload the browser made is a file of the key's workspace, with the bytes it sent.
    expect(await tenant.client.files.retrieve(shown.id)).toMatchObject({ id: shown.id, purpose: 'batch' });
    expect(await (await tenant.client.files.content(shown.id)).text()).toBe(content);
  });
});
