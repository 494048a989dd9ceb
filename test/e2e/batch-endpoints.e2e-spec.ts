import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, newTenant, type Tenant } from '../support/clients';
import { allResults, batchLines, createBatch, type Endpoint, numbered, waitForBatch } from '../support/batches';
import { type ApiHandle } from '../support/processes';
import { startStack, type Stack } from '../support/stack';

interface ModelUsage {
  model: string;
  batches: number;
  requests: number;
  input_tokens: number;
  output_tokens: number;
}

/** The image and video batch endpoints end to end: the SDK creates the batch, the stub answers as OpenAI does. */
describe('Image and video batch endpoints', () => {
  let stack: Stack;
  let api: ApiHandle;

  beforeAll(async () => {
    stack = await startStack({ storage: true, worker: {} });
    ({ api } = stack);
  });
  afterAll(() => stack?.stop());

  /** Runs a batch of `count` requests in a fresh workspace; answers the batch, its result lines and its ledger. */
  async function run(endpoint: Endpoint, model: string, content: string) {
    const tenant: Tenant = await newTenant(api.url);
    const created = await createBatch(tenant.client, endpoint, content);
    expect(created.endpoint).toBe(endpoint);
    const batch = await waitForBatch(tenant.client, created.id);
    const results = await allResults(tenant.client, batch);
    const usage = await adminRequest<{ by_model: ModelUsage[] }>(
      api.url,
      'GET',
      `/admin/workspaces/${tenant.workspaceId}/usage`,
    );
    expect(usage.by_model.map((row) => row.model)).toEqual([model]);
    return { batch, ...results, ledger: usage.by_model[0] };
  }

  it('runs /v1/images/generations: base64 images in the output, gpt-image-1 token usage billed', async () => {
    const endpoint: Endpoint = '/v1/images/generations';
    const { batch, output, errors, unique, ledger } = await run(
      endpoint,
      'gpt-image-1',
      batchLines(
        endpoint,
        'gpt-image-1',
        numbered(4, (i) => `a lighthouse at dusk, take ${i}`),
      ),
    );
    expect(batch).toMatchObject({ status: 'completed', model: 'gpt-image-1' });
    expect(errors).toEqual([]);
    expect(unique).toBe(true);
    expect(output).toHaveLength(4);
    let input = 0;
    for (const line of output) {
      const body = line.response?.body;
      expect(body.data[0].b64_json).toMatch(/^iVBOR/);
      expect(body.usage).toMatchObject({ output_tokens: 1056, input_tokens_details: { image_tokens: 0 } });
      input += body.usage.input_tokens as number;
    }
    expect(input).toBeGreaterThan(0);
    expect(batch.usage).toMatchObject({ input_tokens: input, output_tokens: 4 * 1056, total_tokens: input + 4 * 1056 });
    expect(ledger).toMatchObject({ batches: 1, requests: 4, input_tokens: input, output_tokens: 4 * 1056 });
  });

  it('runs /v1/images/edits with JSON bodies naming the images by URL; a line without images fails alone', async () => {
    const endpoint: Endpoint = '/v1/images/edits';
    const content =
      batchLines(
        endpoint,
        'gpt-image-1',
        numbered(3, (i) => `make it snow, take ${i}`),
      ) +
      JSON.stringify({
        custom_id: 'no-image',
        method: 'POST',
        url: endpoint,
        body: { model: 'gpt-image-1', prompt: 'make it snow' },
      }) +
      '\n';
    const { batch, output, errors, ledger } = await run(endpoint, 'gpt-image-1', content);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 4, completed: 3, failed: 1 } });
    expect(errors.map((line) => [line.custom_id, line.response?.status_code, line.response?.body.error.param])).toEqual(
      [['no-image', 400, 'images']],
    );
    let input = 0;
    for (const line of output) {
      expect(line.response?.body.data[0].b64_json).toMatch(/^iVBOR/);
      expect(line.response?.body.usage.input_tokens_details.image_tokens).toBe(388);
      input += line.response?.body.usage.input_tokens as number;
    }
    expect(batch.usage).toMatchObject({ input_tokens: input, output_tokens: 3 * 1056 });
    expect(ledger).toMatchObject({ requests: 3, input_tokens: input, output_tokens: 3 * 1056 });
  });

  it('runs /v1/videos: video objects in the output, requests billed with no tokens (a video has no usage)', async () => {
    const endpoint: Endpoint = '/v1/videos';
    const { batch, output, errors, ledger } = await run(
      endpoint,
      'sora-2',
      batchLines(
        endpoint,
        'sora-2',
        numbered(3, (i) => `a paper boat on a river, shot ${i}`),
      ),
    );
    expect(batch).toMatchObject({ status: 'completed', model: 'sora-2', request_counts: { completed: 3, failed: 0 } });
    expect(errors).toEqual([]);
    for (const line of output) {
      expect(line.response?.body).toMatchObject({
        object: 'video',
        status: 'completed',
        model: 'sora-2',
        seconds: '4',
      });
      expect(line.response?.body.id).toMatch(/^video_/);
    }
    expect(batch.usage).toMatchObject({ input_tokens: 0, output_tokens: 0 });
    expect(ledger).toMatchObject({ batches: 1, requests: 3, input_tokens: 0, output_tokens: 0 });
  });
});
