import { once } from 'node:events';
import type OpenAI from 'openai';
import { toFile } from 'openai';
import { createStubUpstream, type StubOptions, type StubStats } from '../../apps/stub-upstream/src/stub-upstream';
import { pollUntil } from './poll';

export interface StubHandle {
  /** Base URL with its /v1 prefix, as UPSTREAM_BASE_URL expects. */
  url: string;
  stats(): StubStats;
  reset(): void;
  close(): Promise<void>;
}

/** The stand-in LLM upstream: a real HTTP server on a loopback port. */
export async function startStub(options: StubOptions = {}): Promise<StubHandle> {
  const stub = createStubUpstream({ retryAfterMs: 100, ...options });
  stub.server.listen(0, '127.0.0.1');
  await once(stub.server, 'listening');
  const { port } = stub.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/v1`,
    stats: stub.stats,
    reset: stub.reset,
    close: async () => {
      stub.server.closeAllConnections();
      await new Promise((resolve) => stub.server.close(resolve));
    },
  };
}

export type Endpoint =
  | '/v1/chat/completions'
  | '/v1/embeddings'
  | '/v1/completions'
  | '/v1/responses'
  | '/v1/moderations'
  | '/v1/images/generations'
  | '/v1/images/edits'
  | '/v1/videos';

/** The request body each endpoint expects, carrying `text` (where stub directives go). */
export function bodyFor(endpoint: Endpoint, model: string, text: string): Record<string, unknown> {
  switch (endpoint) {
    case '/v1/chat/completions':
      return { model, messages: [{ role: 'user', content: text }] };
    case '/v1/completions':
    case '/v1/images/generations':
      return { model, prompt: text };
    case '/v1/images/edits':
      return { model, prompt: text, images: [{ image_url: 'data:image/png;base64,iVBORw0KGgo=' }] };
    case '/v1/videos':
      return { model, prompt: text, seconds: '4', size: '720x1280' };
    default:
      return { model, input: text };
  }
}

export interface RequestSpec {
  customId: string;
  text: string;
}

export function batchLines(endpoint: Endpoint, model: string, requests: RequestSpec[]): string {
  return requests
    .map((r) =>
      JSON.stringify({ custom_id: r.customId, method: 'POST', url: endpoint, body: bodyFor(endpoint, model, r.text) }),
    )
    .join('\n')
    .concat('\n');
}

export const numbered = (count: number, text: (i: number) => string = (i) => `request number ${i}`): RequestSpec[] =>
  Array.from({ length: count }, (_, i) => ({ customId: `req-${i}`, text: text(i) }));

export async function uploadBatchInput(client: OpenAI, content: string, name = 'input.jsonl') {
  return client.files.create({ file: await toFile(Buffer.from(content), name), purpose: 'batch' });
}

export async function createBatch(
  client: OpenAI,
  endpoint: Endpoint,
  content: string,
  extra: Record<string, unknown> = {},
) {
  const file = await uploadBatchInput(client, content);
  return client.batches.create({ input_file_id: file.id, endpoint, completion_window: '24h', ...extra });
}

export const TERMINAL = ['completed', 'failed', 'expired', 'cancelled'];

/** Polls retrieve() until `done` holds. */
export function waitForBatch(
  client: OpenAI,
  id: string,
  done: (batch: OpenAI.Batches.Batch) => boolean = (b) => TERMINAL.includes(b.status),
  timeoutMs = 30_000,
): Promise<OpenAI.Batches.Batch> {
  return pollUntil(() => client.batches.retrieve(id), done, {
    what: (batch) => `batch ${id} to reach the expected state: ${JSON.stringify(batch)}`,
    timeoutMs,
    intervalMs: 100,
  });
}

export interface ResultLine {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: any } | null;
  error: { code: string; message: string } | null;
}

export async function readResults(client: OpenAI, fileId: string | null | undefined): Promise<ResultLine[]> {
  if (!fileId) {
    return [];
  }
  const text = await (await client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ResultLine);
}

/** Output and error lines together, with a check that every custom_id appears exactly once. */
export async function allResults(client: OpenAI, batch: OpenAI.Batches.Batch) {
  const output = await readResults(client, batch.output_file_id);
  const errors = await readResults(client, batch.error_file_id);
  const ids = [...output, ...errors].map((line) => line.custom_id);
  return { output, errors, ids, unique: new Set(ids).size === ids.length };
}

/** How many requests the stub received more than once (each extra receipt is a re-send). */
export const resent = (stats: StubStats, exclude: (hash: string) => boolean = () => false) =>
  Object.entries(stats.byBody)
    .filter(([hash]) => !exclude(hash))
    .reduce((sum, [, count]) => sum + Math.max(0, count - 1), 0);
