import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, raw } from '../support/clients';
import { allResults, batchLines, createBatch, numbered, waitForBatch } from '../support/batches';
import { ADMIN_KEY } from '../support/env';
import { startStack, type Stack } from '../support/stack';

const CHAT = '/v1/chat/completions';
const BUDGET = 2500;

/**
 * The monthly token budget is a hard cap while a batch runs, not only a check of its estimate at create: lines
 * that use more than estimated (here: no max_tokens, with an api that assumes no output for them) stop being
 * sent once the workspace has used its budget.
 */
describe('Monthly token budget as a hard cap in the worker', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      storage: true,
      api: { ESTIMATE_DEFAULT_MAX_OUTPUT_TOKENS: '0' },
      worker: { WORKER_CONCURRENCY: '1', JOURNAL_GROUP_MAX_LINES: '1' },
    });
  });
  afterAll(() => stack?.stop());

  it('sends no further line once the budget is used; the unsent lines end budget_exceeded', async () => {
    const { tenant } = stack;
    const budget = await raw(stack.api.url, `/admin/workspaces/${tenant.workspaceId}`, {
      method: 'PATCH',
      key: ADMIN_KEY,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ monthly_token_budget: BUDGET }),
    });
    expect(budget.status).toBe(200);
    // Each answer is about 300 tokens (a padded echo); the estimate counts only the short prompts.
    const requests = numbered(12, (i) => `line ${i} [stub:bytes=1200] [stub:delay=150]`);
    const created = await createBatch(tenant.client, CHAT, batchLines(CHAT, 'stub-budget', requests));
    const batch = await waitForBatch(tenant.client, created.id, undefined, 30_000);
    expect(batch.status).toBe('completed');

    const { output, errors, unique } = await allResults(tenant.client, batch);
    expect(unique).toBe(true);
    expect(output.length).toBeGreaterThan(0);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((line) => line.response === null && line.error?.code === 'budget_exceeded')).toBe(true);
    expect(errors[0].error?.message).toMatch(/monthly token budget/);
    const perLine = batch.usage!.total_tokens / output.length;
    // The line that crossed the budget was let finish, and none after it was sent.
    expect(batch.usage!.total_tokens).toBeGreaterThanOrEqual(BUDGET);
    expect(batch.usage!.total_tokens).toBeLessThan(BUDGET + perLine);
    expect(stack.stub.stats().requests).toBe(output.length);

    const usage = await adminRequest<{ current_month: { used: number } }>(
      stack.api.url,
      'GET',
      `/admin/workspaces/${tenant.workspaceId}/usage`,
    );
    expect(usage.current_month.used).toBe(batch.usage!.total_tokens);
  });
});
