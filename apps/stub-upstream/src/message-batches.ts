/**
 * Anthropic's Message Batches API (/v1/messages/batches), as the stub upstream answers it: batches of inline
 * Messages requests run in the background, one request after another over the batch's duration, and end with a
 * JSONL results stream in an order other than the input's (as Anthropic's own example does). Answers echo the
 * prompt like the stub's /chat/completions, in Anthropic's Messages shape, with the same deterministic tokens.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface MessageBatchesOptions {
  /** When set, requests must carry `x-api-key: <apiKey>` (401 otherwise), as Anthropic's API does. */
  apiKey?: string;
  /** How long a batch takes to end unless `[stub:batchdelay=MS]` says otherwise (default 200 ms). */
  messageBatchMs?: number;
}

export interface MessageBatchStats {
  /** Requests to the Message Batches API, refused ones included. */
  calls: number;
  created: number;
  cancelled: number;
  deleted: number;
  /** Requests of all batches processed so far: a test waits on it to cancel a batch halfway. */
  processed: number;
  /** Calls answered with the injected outage's status. */
  refused: number;
}

/** The stub's text helpers, handed in so this module and stub-upstream.ts share them without importing each other. */
export interface StubText {
  reply: (model: string, prompt: string, bytes?: number) => string;
  tokens: (text: string) => number;
  directive: (text: string, name: string) => number | null;
}

export const DEFAULT_MESSAGE_BATCH_MS = 200;
/** How long a batch stays `canceling` before it ends. */
const CANCELING_MS = 50;
const EXPIRY_MS = 24 * 3_600_000;
const MAX_REQUESTS = 100_000;
const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const ROUTE = /^\/messages\/batches(?:\/([^/]+)(?:\/(results|cancel))?)?$/;

/** Anthropic's error type for an HTTP status (docs: "HTTP errors"). */
const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};
const errorTypeOf = (status: number): string =>
  ERROR_TYPES[status] ?? (status < 500 ? 'invalid_request_error' : 'api_error');

type Json = Record<string, unknown>;
type RequestStatus = 'processing' | 'succeeded' | 'errored' | 'canceled' | 'expired';

interface BatchRequest {
  customId: string;
  params: Json;
  /** The params as JSON, where the fault directives are looked for. */
  text: string;
  status: RequestStatus;
}

interface MessageBatch {
  id: string;
  processingStatus: 'in_progress' | 'canceling' | 'ended';
  createdAt: Date;
  endedAt: Date | null;
  cancelInitiatedAt: Date | null;
  requests: BatchRequest[];
}

/** A request the API refuses as Anthropic would, with 400 invalid_request_error (or the status given). */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function createMessageBatches(
  options: MessageBatchesOptions,
  text: StubText,
): {
  handle: (request: IncomingMessage, response: ServerResponse, path: string) => Promise<void>;
  stats: () => MessageBatchStats;
  reset: () => void;
} {
  const emptyStats = (): MessageBatchStats => ({
    calls: 0,
    created: 0,
    cancelled: 0,
    deleted: 0,
    processed: 0,
    refused: 0,
  });
  let stats = emptyStats();
  let outage: { status: number; until: number } | null = null;
  // Newest last (insertion order): listed the other way round.
  const batches = new Map<string, MessageBatch>();

  /** Answers `/_stub/outage` or a Message Batches API request (`path` without its /v1 prefix). */
  async function handle(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    response.setHeader('request-id', `req_${randomBytes(12).toString('hex')}`);
    try {
      if (path === '/_stub/outage') {
        return await startOutage(request, response);
      }
      stats.calls++;
      if (outage && outage.until > Date.now()) {
        stats.refused++;
        response.setHeader('retry-after', String(Math.ceil((outage.until - Date.now()) / 1000)));
        throw new ApiError(outage.status, 'The Message Batches API is unavailable (stub outage).');
      }
      checkHeaders(request);
      return await route(request, response, path);
    } catch (error) {
      if (!(error instanceof ApiError)) {
        throw error;
      }
      return sendError(response, error.status, error.message);
    }
  }

  function checkHeaders(request: IncomingMessage): void {
    if (options.apiKey && request.headers['x-api-key'] !== options.apiKey) {
      throw new ApiError(401, 'invalid x-api-key');
    }
    if (!request.headers['anthropic-version']) {
      throw new ApiError(400, 'anthropic-version: header is required');
    }
  }

  async function route(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    const match = ROUTE.exec(path);
    const [id, action] = match ? [match[1], match[2]] : [undefined, undefined];
    const method = request.method ?? 'GET';
    if (match && !id && method === 'POST') {
      return send(response, 200, viewOf(await create(request), request));
    }
    if (match && !id && method === 'GET') {
      return send(response, 200, list(request));
    }
    if (id && !action && method === 'GET') {
      return send(response, 200, viewOf(find(id), request));
    }
    if (id && !action && method === 'DELETE') {
      return send(response, 200, remove(find(id)));
    }
    if (id && action === 'cancel' && method === 'POST') {
      return send(response, 200, viewOf(cancel(find(id)), request));
    }
    if (id && action === 'results' && method === 'GET') {
      return streamResults(ended(find(id)), response);
    }
    throw new ApiError(404, `Not found: ${method} ${request.url}`);
  }

  async function create(request: IncomingMessage): Promise<MessageBatch> {
    const raw = await readBody(request);
    const batch: MessageBatch = {
      id: `msgbatch_${randomBytes(12).toString('hex')}`,
      processingStatus: 'in_progress',
      createdAt: new Date(),
      endedAt: null,
      cancelInitiatedAt: null,
      requests: requestsOf(parseJson(raw)),
    };
    batches.set(batch.id, batch);
    stats.created++;
    run(batch, text.directive(raw, 'batchdelay') ?? options.messageBatchMs ?? DEFAULT_MESSAGE_BATCH_MS).catch(
      // A batch that cannot be processed ends with what it has, as a provider's would; the stub never dies of it.
      () => end(batch),
    );
    return batch;
  }

  /**
   * Processes the requests one by one, spread over `durationMs`, so that a cancel arriving halfway finds some
   * done and some not. Each tick catches up on every request due by then (thousands of requests in 200 ms).
   */
  async function run(batch: MessageBatch, durationMs: number): Promise<void> {
    const count = batch.requests.length;
    const stepMs = durationMs / count;
    const started = Date.now();
    let done = 0;
    while (done < count) {
      await sleep(Math.max(1, stepMs), undefined, { ref: false });
      if (batch.processingStatus !== 'in_progress') {
        return; // cancelled: the cancel ends it
      }
      const due = stepMs > 0 ? Math.min(count, Math.floor((Date.now() - started) / stepMs)) : count;
      for (; done < due; done++) {
        batch.requests[done].status = outcomeOf(batch.requests[done]);
        stats.processed++;
      }
    }
    end(batch);
  }

  function outcomeOf(request: BatchRequest): RequestStatus {
    if (text.directive(request.text, 'expire') !== null) {
      return 'expired';
    }
    return text.directive(request.text, 'fail') !== null ? 'errored' : 'succeeded';
  }

  function end(batch: MessageBatch): void {
    batch.processingStatus = 'ended';
    batch.endedAt = new Date();
  }

  function cancel(batch: MessageBatch): MessageBatch {
    if (batch.processingStatus !== 'in_progress') {
      return batch; // already canceling or ended: nothing more to do
    }
    batch.processingStatus = 'canceling';
    batch.cancelInitiatedAt = new Date();
    stats.cancelled++;
    setTimeout(() => {
      for (const request of batch.requests) {
        request.status = request.status === 'processing' ? 'canceled' : request.status;
      }
      end(batch);
    }, CANCELING_MS).unref();
    return batch;
  }

  function remove(batch: MessageBatch): Json {
    ended(batch);
    batches.delete(batch.id);
    stats.deleted++;
    return { id: batch.id, type: 'message_batch_deleted' };
  }

  function find(id: string): MessageBatch {
    const batch = batches.get(id);
    if (!batch) {
      throw new ApiError(404, `No Message Batch with id ${id}`);
    }
    return batch;
  }

  function ended(batch: MessageBatch): MessageBatch {
    if (batch.processingStatus !== 'ended') {
      throw new ApiError(400, `Message Batch ${batch.id} has not ended yet (${batch.processingStatus})`);
    }
    return batch;
  }

  /** A page of batches, newest first, before or after a cursor batch (Anthropic's list parameters). */
  function list(request: IncomingMessage): Json {
    const query = new URL(request.url ?? '/', 'http://stub').searchParams;
    const limit = Number(query.get('limit') ?? 20);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new ApiError(400, 'limit: must be an integer between 1 and 1000');
    }
    const afterId = query.get('after_id');
    const beforeId = query.get('before_id');
    if (afterId && beforeId) {
      throw new ApiError(400, 'after_id and before_id cannot both be given');
    }
    const all = [...batches.values()].reverse();
    const cursor = (id: string) => {
      const index = all.findIndex((batch) => batch.id === id);
      if (index < 0) {
        throw new ApiError(400, `No Message Batch with id ${id} to page from`);
      }
      return index;
    };
    const start = beforeId ? Math.max(0, cursor(beforeId) - limit) : afterId ? cursor(afterId) + 1 : 0;
    const stop = beforeId ? cursor(beforeId) : Math.min(all.length, start + limit);
    const data = all.slice(start, stop).map((batch) => viewOf(batch, request));
    return {
      data,
      has_more: beforeId ? start > 0 : stop < all.length,
      first_id: data.at(0)?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
    };
  }

  /** The results JSONL, written line by line as the client takes it, reversed so no one relies on the order. */
  async function streamResults(batch: MessageBatch, response: ServerResponse): Promise<void> {
    response.writeHead(200, { 'content-type': 'application/binary' });
    function* lines(): Generator<string> {
      for (let index = batch.requests.length - 1; index >= 0; index--) {
        const request = batch.requests[index];
        yield `${JSON.stringify({ custom_id: request.customId, result: resultOf(batch, request) })}\n`;
      }
    }
    // A client going away mid-stream is its own business: the stream just stops.
    await pipeline(Readable.from(lines()), response).catch(() => response.destroy());
  }

  function resultOf(batch: MessageBatch, request: BatchRequest): Json {
    switch (request.status) {
      case 'succeeded':
        return { type: 'succeeded', message: messageOf(batch, request) };
      case 'errored': {
        const status = text.directive(request.text, 'fail') ?? 500;
        const error = { type: errorTypeOf(status), message: `Injected failure ${status}.` };
        return { type: 'errored', error: { type: 'error', error } };
      }
      case 'canceled':
      case 'expired':
        return { type: request.status };
      case 'processing':
        throw new Error(`Request ${request.customId} of ended batch ${batch.id} was never processed`);
    }
  }

  /** The Messages answer to one request: a tool call when the request forces one, else the stub's echo. */
  function messageOf(batch: MessageBatch, request: BatchRequest): Json {
    const model = request.params.model as string;
    const prompt = JSON.stringify(request.params.messages);
    const suffix = `${batch.id.slice(-12)}${request.customId}`;
    const tool = forcedToolOf(request.params);
    const content = tool
      ? { type: 'tool_use', id: `toolu_${suffix}`, name: tool, input: {} }
      : { type: 'text', text: text.reply(model, prompt, text.directive(request.text, 'bytes') ?? 0) };
    return {
      id: `msg_${suffix}`,
      type: 'message',
      role: 'assistant',
      model,
      content: [content],
      stop_reason: tool ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage: {
        input_tokens: text.tokens(prompt),
        output_tokens: text.tokens(content.type === 'text' ? (content.text as string) : JSON.stringify(content)),
      },
    };
  }

  /** The Message Batch object as Anthropic shows it; counts stay at `processing` until the whole batch ends. */
  function viewOf(batch: MessageBatch, request: IncomingMessage): Json & { id: string } {
    const isEnded = batch.processingStatus === 'ended';
    const count = (status: RequestStatus) =>
      isEnded ? batch.requests.filter((item) => item.status === status).length : 0;
    return {
      id: batch.id,
      type: 'message_batch',
      processing_status: batch.processingStatus,
      request_counts: {
        processing: isEnded ? 0 : batch.requests.length,
        succeeded: count('succeeded'),
        errored: count('errored'),
        canceled: count('canceled'),
        expired: count('expired'),
      },
      ended_at: batch.endedAt?.toISOString() ?? null,
      created_at: batch.createdAt.toISOString(),
      expires_at: new Date(batch.createdAt.getTime() + EXPIRY_MS).toISOString(),
      cancel_initiated_at: batch.cancelInitiatedAt?.toISOString() ?? null,
      archived_at: null,
      results_url: isEnded ? `${originOf(request)}/v1/messages/batches/${batch.id}/results` : null,
    };
  }

  /** `POST /_stub/outage {"status":503,"ms":3000}`: every Message Batches call answers that status for that long. */
  async function startOutage(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== 'POST') {
      throw new ApiError(404, `Not found: ${request.method} ${request.url}`);
    }
    const body = parseJson(await readBody(request));
    const { status, ms } = body as { status?: unknown; ms?: unknown };
    if (!Number.isInteger(status) || (status as number) < 400 || (status as number) > 599) {
      throw new ApiError(400, 'status: an HTTP error status (400-599) is required');
    }
    if (typeof ms !== 'number' || !(ms >= 0)) {
      throw new ApiError(400, 'ms: a duration in milliseconds is required');
    }
    outage = ms > 0 ? { status: status as number, until: Date.now() + ms } : null;
    send(response, 200, { ok: true, status, until: outage ? new Date(outage.until).toISOString() : null });
  }

  return {
    handle,
    stats: () => ({ ...stats }),
    reset: () => {
      stats = emptyStats();
      outage = null;
    },
  };
}

/** Forced tool use: `tool_choice` {type:'tool', name} or {type:'any'} (the first tool) with tools given. */
function forcedToolOf(params: Json): string | null {
  const tools = Array.isArray(params.tools) ? (params.tools as { name?: unknown }[]) : [];
  const choice = params.tool_choice as { type?: unknown; name?: unknown } | undefined;
  if (tools.length === 0 || !choice) {
    return null;
  }
  const name = choice.type === 'tool' ? choice.name : choice.type === 'any' ? tools[0]?.name : null;
  return typeof name === 'string' ? name : null;
}

/** The batch's requests, checked as Anthropic checks them before accepting a batch. */
function requestsOf(body: unknown): BatchRequest[] {
  const requests = (body as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(requests) || requests.length === 0 || requests.length > MAX_REQUESTS) {
    throw new ApiError(400, `requests: an array of 1 to ${MAX_REQUESTS} requests is required`);
  }
  const seen = new Set<string>();
  return requests.map((raw: unknown, index) => {
    const { custom_id: customId, params } = (raw ?? {}) as { custom_id?: unknown; params?: unknown };
    if (typeof customId !== 'string' || !CUSTOM_ID.test(customId)) {
      throw new ApiError(400, `requests.${index}.custom_id: must match ^[a-zA-Z0-9_-]{1,64}$`);
    }
    if (seen.has(customId)) {
      throw new ApiError(400, `requests.${index}.custom_id: duplicate custom_id ${customId}`);
    }
    seen.add(customId);
    checkParams(params, `requests.${index}.params`);
    return { customId, params, text: JSON.stringify(params), status: 'processing' };
  });
}

function checkParams(params: unknown, where: string): asserts params is Json {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new ApiError(400, `${where}: an object is required`);
  }
  const { model, messages, max_tokens: maxTokens, stream } = params as Json;
  if (typeof model !== 'string') {
    throw new ApiError(400, `${where}.model: Field required`);
  }
  if (!Array.isArray(messages)) {
    throw new ApiError(400, `${where}.messages: Field required`);
  }
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
    throw new ApiError(400, `${where}.max_tokens: an integer of at least 1 is required`);
  }
  if (stream === true) {
    throw new ApiError(400, `${where}.stream: streaming is not supported in a batch`);
  }
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new ApiError(400, 'The request body is not valid JSON');
  }
}

/** Where the client reached us, so results_url points back at the same stub. */
function originOf(request: IncomingMessage): string {
  const proto = request.headers['x-forwarded-proto'];
  return `${typeof proto === 'string' ? proto : 'http'}://${request.headers.host ?? 'localhost'}`;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendError(response: ServerResponse, status: number, message: string): void {
  send(response, status, { type: 'error', error: { type: errorTypeOf(status), message } });
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  response.end(payload);
}
