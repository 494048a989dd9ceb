/**
 * A STAND-IN for a real LLM provider, for tests, local runs and the compose demo. It speaks the
 * OpenAI wire format for the eight batch endpoints with deterministic bodies and real `usage` (images carry
 * gpt-image-1's token usage; a video object has none), and
 * injects faults on request: put a directive anywhere in the request body (e.g. in a message):
 *   [stub:fail=400]      always answer that status with an OpenAI error body
 *   [stub:flaky=2]       answer 500 to the first 2 attempts of this exact body, then succeed
 *   [stub:ratelimit=1]   answer 429 (retry-after) to the first attempt, then succeed
 *   [stub:delay=250]     wait 250 ms before answering
 *   [stub:hang=1]        never answer the first attempt (the caller's timeout fires)
 *   [stub:garbage=200]   answer that status with an HTML body instead of JSON
 *   [stub:truncate=2]    for the first 2 attempts, announce the whole body's Content-Length, send half of it and
 *                        close the connection (a body cut short)
 *   [stub:errorbody=1]   answer 200 whose body is an OpenAI error object ({"error":{...}}), as some proxies do
 *   [stub:retryafter=V]  answer 429 to the first attempt with `retry-after: V` only (no retry-after-ms): V is
 *                        seconds (may be negative, e.g. -5), `past` (an HTTP date a day ago) or `future` (an
 *                        HTTP date in the year 9999)
 *   [stub:bytes=N]       pad the answer's text (chat, completions, responses) to at least N bytes with
 *                        multi-byte and escaped characters (see `fillerOf`)
 *   [stub:dims=1536]     /embeddings answers with vectors of that many dimensions (default: embeddingDims, 8)
 * With an apiKey set, a request without that Bearer key gets 401. With a capacity set, a request
 * arriving while that many are already being answered gets 429 (as a saturated provider answers).
 *
 * It also speaks Anthropic's Message Batches API (message-batches.ts): POST /v1/messages/batches,
 * GET /v1/messages/batches[?limit&after_id&before_id], GET /v1/messages/batches/{id}[/results],
 * POST /v1/messages/batches/{id}/cancel and DELETE /v1/messages/batches/{id}, with `x-api-key` (when apiKey
 * is set) and `anthropic-version` headers required. A batch ends after messageBatchMs (default 200), its
 * requests answered one by one over that time; directives in a request's params:
 *   [stub:fail=529]        that request ends errored with Anthropic's error type for the status
 *   [stub:expire=1]        that request ends expired
 *   [stub:batchdelay=MS]   (anywhere in the batch) the batch takes MS to end instead of messageBatchMs
 *   [stub:bytes=N]         pad the answer's text as above
 * and a request whose tool_choice is {type:'tool'} or {type:'any'} (with tools) is answered with a tool_use.
 *
 * GET /_stub/stats tells how often each distinct body was received (and counts Message Batches calls);
 * POST /_stub/reset clears it. POST /_stub/outage {"status":503,"ms":3000} makes every Message Batches call
 * answer that status (with retry-after) for that long.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { createMessageBatches, type MessageBatchStats } from './message-batches';

export interface StubOptions {
  latencyMs?: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>` (401 otherwise), as a real provider would. */
  apiKey?: string;
  /** Seconds sent in retry-after with 429s (retry-after-ms carries the same in milliseconds). */
  retryAfterMs?: number;
  /** Requests answered at once; one more gets 429. Unset = no limit. */
  capacity?: number;
  /** Dimensions of each /embeddings vector (default 8); `[stub:dims=N]` in a request overrides it. 1536 is realistic. */
  embeddingDims?: number;
  /** How long a Message Batch takes to end (default 200 ms); `[stub:batchdelay=MS]` in a batch overrides it. */
  messageBatchMs?: number;
}

/** The most dimensions a vector may have (OpenAI's largest model has 3072). */
export const MAX_EMBEDDING_DIMS = 16_384;

export interface StubStats {
  requests: number;
  byBody: Record<string, number>;
  /** Requests refused with 429 because `capacity` were already being answered. */
  overCapacity: number;
  /** The most requests being answered at once (refused ones not counted). */
  peakInFlight: number;
  /** Calls to the Message Batches API, and what they did. */
  messageBatches: MessageBatchStats;
}

const ENDPOINTS = [
  '/chat/completions',
  '/completions',
  '/embeddings',
  '/responses',
  '/moderations',
  '/images/generations',
  '/images/edits',
  '/videos',
];
/** gpt-image-1's output tokens per 1024x1024 image, by quality (OpenAI's pricing table; `auto` answers as medium). */
const IMAGE_OUTPUT_TOKENS: Record<string, number> = { low: 272, medium: 1056, high: 4160 };
/** Input tokens one input image costs an edit (a 1024x1024 image at high input fidelity is of this order). */
const EDIT_IMAGE_INPUT_TOKENS = 388;
/** A 1x1 PNG: what the stub draws, whatever the prompt. */
const ONE_PIXEL_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const CREATED = 1_763_900_000;
const DEFAULT_EMBEDDING_DIMS = 8;

const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));
const directive = (text: string, name: string): number | null => {
  const match = new RegExp(`\\[stub:${name}(?:=(\\d+))?\\]`).exec(text);
  return match ? Number(match[1] ?? 1) : null;
};
/** The retry-after header `[stub:retryafter=V]` asks for, or null. */
const retryAfterDirective = (text: string): string | null => {
  const match = /\[stub:retryafter=(-?\d+|past|future)\]/.exec(text);
  if (!match) {
    return null;
  }
  if (match[1] === 'past') {
    return new Date(Date.now() - 86_400_000).toUTCString();
  }
  return match[1] === 'future' ? 'Fri, 31 Dec 9999 23:59:59 GMT' : match[1];
};

export function createStubUpstream(options: StubOptions = {}): {
  server: Server;
  stats: () => StubStats;
  reset: () => void;
} {
  const emptyStats = (): Omit<StubStats, 'messageBatches'> => ({
    requests: 0,
    byBody: {},
    overCapacity: 0,
    peakInFlight: 0,
  });
  let stats = emptyStats();
  let inFlight = 0;
  const messageBatches = createMessageBatches(options, { reply: replyOf, tokens, directive });
  const snapshot = (): StubStats => ({ ...structuredClone(stats), messageBatches: messageBatches.stats() });
  const reset = () => {
    stats = emptyStats();
    messageBatches.reset();
  };

  const server = createServer((request, response) => {
    void handle(request, response).catch((error: Error) =>
      send(response, 500, { error: { message: error.message, type: 'server_error', param: null, code: null } }),
    );
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0].replace(/^\/v1(?=\/)/, '');
    if (path === '/_stub/stats' && request.method === 'GET') {
      return send(response, 200, snapshot());
    }
    if (path === '/_stub/reset' && request.method === 'POST') {
      reset();
      return send(response, 200, { ok: true });
    }
    if (path === '/health') {
      return send(response, 200, { status: 'ok', stand_in: true });
    }
    if (path === '/_stub/outage' || path.startsWith('/messages/batches')) {
      return messageBatches.handle(request, response, path);
    }
    if (request.method !== 'POST' || !ENDPOINTS.includes(path)) {
      return send(response, 404, {
        error: {
          message: `Unknown request URL: ${request.method} ${request.url}`,
          type: 'invalid_request_error',
          param: null,
          code: 'unknown_url',
        },
      });
    }
    if (options.apiKey && request.headers.authorization !== `Bearer ${options.apiKey}`) {
      return send(response, 401, {
        error: {
          message: 'Incorrect API key provided.',
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      });
    }
    if (options.capacity !== undefined && inFlight >= options.capacity) {
      stats.overCapacity++;
      return rateLimited(response, options.retryAfterMs ?? 1000);
    }
    inFlight++;
    stats.peakInFlight = Math.max(stats.peakInFlight, inFlight);
    try {
      return await answerRequest(request, response, path);
    } finally {
      inFlight--;
    }
  }

  async function answerRequest(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    const text = await readBody(request);
    const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
    stats.requests++;
    const attempt = (stats.byBody[hash] = (stats.byBody[hash] ?? 0) + 1);
    const requestId = `req_${hash}${attempt}`;
    response.setHeader('x-request-id', requestId);

    const delay = (directive(text, 'delay') ?? 0) + (options.latencyMs ?? 0);
    if (delay > 0) {
      await sleep(delay);
    }
    if (attempt <= (directive(text, 'hang') ?? 0)) {
      return; // never answered: the caller's timeout decides
    }
    const garbage = directive(text, 'garbage');
    if (garbage !== null) {
      response.writeHead(garbage, { 'content-type': 'text/html' });
      response.end('<html><body>Bad gateway at 10.0.0.7</body></html>');
      return;
    }
    if (attempt <= (directive(text, 'truncate') ?? 0)) {
      const payload = Buffer.from(JSON.stringify(answer('/chat/completions', { model: 'cut-short' }, hash, 0, 0)));
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': payload.length });
      // Closed only once the half is on its way, so the caller really gets a body cut short.
      response.write(payload.subarray(0, Math.floor(payload.length / 2)), () => response.destroy());
      return;
    }
    if (directive(text, 'errorbody') !== null) {
      return send(response, 200, {
        error: {
          message: 'Injected error in a 200 answer.',
          type: 'server_error',
          param: null,
          code: 'stub_injected',
        },
      });
    }
    const retryAfter = retryAfterDirective(text);
    if (retryAfter !== null && attempt === 1) {
      response.setHeader('retry-after', retryAfter);
      return send(response, 429, RATE_LIMITED);
    }
    const fail = directive(text, 'fail');
    if (fail !== null) {
      return send(response, fail, {
        error: {
          message: `Injected failure ${fail}.`,
          type: 'invalid_request_error',
          param: null,
          code: 'stub_injected',
        },
      });
    }
    if (attempt <= (directive(text, 'flaky') ?? 0)) {
      return send(response, 500, {
        error: {
          message: 'The server had an error while processing your request.',
          type: 'server_error',
          param: null,
          code: null,
        },
      });
    }
    if (attempt <= (directive(text, 'ratelimit') ?? 0)) {
      return rateLimited(response, options.retryAfterMs ?? 1000);
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return send(response, 400, {
        error: {
          message: 'We could not parse the JSON body of your request.',
          type: 'invalid_request_error',
          param: null,
          code: null,
        },
      });
    }
    if (typeof body.model !== 'string') {
      return send(response, 400, {
        error: {
          message: "Missing required parameter: 'model'.",
          type: 'invalid_request_error',
          param: 'model',
          code: 'missing_required_parameter',
        },
      });
    }
    if (path === '/images/edits' && !hasInputImages(body)) {
      // In a batch the body is JSON: input images are URLs (https or data:) or file ids, not multipart parts.
      return send(response, 400, {
        error: {
          message: "Missing required parameter: 'images' (a list of {image_url} or {file_id} objects).",
          type: 'invalid_request_error',
          param: 'images',
          code: 'missing_required_parameter',
        },
      });
    }
    const dims = directive(text, 'dims') ?? options.embeddingDims ?? DEFAULT_EMBEDDING_DIMS;
    if (path === '/embeddings' && (!Number.isInteger(dims) || dims < 1 || dims > MAX_EMBEDDING_DIMS)) {
      return send(response, 400, {
        error: {
          message: `Invalid stub dims ${dims}: between 1 and ${MAX_EMBEDDING_DIMS}.`,
          type: 'invalid_request_error',
          param: null,
          code: 'stub_injected',
        },
      });
    }
    return send(response, 200, answer(path, body, hash, dims, directive(text, 'bytes') ?? 0));
  }

  return { server, stats: snapshot, reset };
}

const RATE_LIMITED = {
  error: {
    message: 'Rate limit reached for requests.',
    type: 'rate_limit_error',
    param: null,
    code: 'rate_limit_exceeded',
  },
};

function rateLimited(response: ServerResponse, waitMs: number): void {
  response.setHeader('retry-after', String(Math.ceil(waitMs / 1000)));
  response.setHeader('retry-after-ms', String(waitMs));
  send(response, 429, RATE_LIMITED);
}

const FILLER_UNIT = 'Lorem ipsum "quoted" \\ back\nslash, é ü ß, 中文字, 😀🚀, \u2028 line sep, \t tab. ';

/** Text of at least `bytes` UTF-8 bytes (multi-byte and JSON-escaped characters included), the same for the same size. */
export function fillerOf(bytes: number): string {
  const unit = Buffer.byteLength(FILLER_UNIT);
  return bytes > 0 ? FILLER_UNIT.repeat(Math.ceil(bytes / unit)) : '';
}

/** The text a chat, completions or responses answer carries: the echo, padded by `[stub:bytes=N]`. */
export function replyOf(model: string, prompt: string, bytes = 0): string {
  const reply = `Echo (${model}): ${prompt.slice(0, 200)}`;
  return reply + fillerOf(bytes - Buffer.byteLength(reply));
}

function answer(path: string, body: Record<string, unknown>, hash: string, dims: number, bytes: number): unknown {
  const model = body.model as string;
  const prompt = JSON.stringify(body.messages ?? body.prompt ?? body.input ?? '');
  const reply = replyOf(model, prompt, bytes);
  const promptTokens = tokens(prompt);
  const completionTokens = tokens(reply);
  const chatUsage = {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: Math.floor(promptTokens / 4) },
    completion_tokens_details: { reasoning_tokens: Math.floor(completionTokens / 5) },
  };
  switch (path) {
    case '/chat/completions':
      return {
        id: `chatcmpl-${hash}`,
        object: 'chat.completion',
        created: CREATED,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: reply, refusal: null },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
        usage: chatUsage,
        system_fingerprint: 'fp_stub',
      };
    case '/completions':
      return {
        id: `cmpl-${hash}`,
        object: 'text_completion',
        created: CREATED,
        model,
        choices: [{ index: 0, text: reply, logprobs: null, finish_reason: 'stop' }],
        usage: chatUsage,
      };
    case '/embeddings': {
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      return {
        object: 'list',
        model,
        data: inputs.map((input, index) => ({
          object: 'embedding',
          index,
          embedding: vectorOf(JSON.stringify(input), dims),
        })),
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      };
    }
    case '/responses':
      return {
        id: `resp_${hash}`,
        object: 'response',
        created_at: CREATED,
        status: 'completed',
        model,
        output: [
          {
            type: 'message',
            id: `msg_${hash}`,
            status: 'completed',
            role: 'assistant',
            content: [{ type: 'output_text', text: reply, annotations: [] }],
          },
        ],
        usage: {
          input_tokens: promptTokens,
          output_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens_details: { reasoning_tokens: 0 },
        },
      };
    case '/images/generations':
    case '/images/edits':
      return imagesAnswer(path, body, promptTokens);
    case '/videos':
      return {
        id: `video_${hash}`,
        object: 'video',
        model,
        status: 'completed',
        progress: 100,
        created_at: CREATED,
        completed_at: CREATED + 90,
        expires_at: CREATED + 86_400,
        prompt: typeof body.prompt === 'string' ? body.prompt : '',
        seconds: typeof body.seconds === 'string' ? body.seconds : '4',
        size: typeof body.size === 'string' ? body.size : '720x1280',
        remixed_from_video_id: null,
        error: null,
      };
    default:
      return {
        id: `modr-${hash}`,
        model,
        results: [
          {
            flagged: prompt.includes('[stub:flag]'),
            categories: { violence: false },
            category_scores: { violence: 0.001 },
          },
        ],
      };
  }
}

/** An ImagesResponse as gpt-image-1 answers it: base64 images and token usage (text and image input, image output). */
function imagesAnswer(path: string, body: Record<string, unknown>, textTokens: number): unknown {
  const n = typeof body.n === 'number' && Number.isInteger(body.n) && body.n >= 1 && body.n <= 10 ? body.n : 1;
  const quality = typeof body.quality === 'string' && body.quality in IMAGE_OUTPUT_TOKENS ? body.quality : 'medium';
  const imageTokens = path === '/images/edits' ? (body.images as unknown[]).length * EDIT_IMAGE_INPUT_TOKENS : 0;
  const outputTokens = n * IMAGE_OUTPUT_TOKENS[quality];
  return {
    created: CREATED,
    background: 'opaque',
    data: Array.from({ length: n }, () => ({ b64_json: ONE_PIXEL_PNG })),
    output_format: 'png',
    quality,
    size: typeof body.size === 'string' ? body.size : '1024x1024',
    usage: {
      input_tokens: textTokens + imageTokens,
      input_tokens_details: { text_tokens: textTokens, image_tokens: imageTokens },
      output_tokens: outputTokens,
      total_tokens: textTokens + imageTokens + outputTokens,
    },
  };
}

/** An edit's input images, as the JSON form of the Images API takes them: `[{image_url}]` or `[{file_id}]`. */
function hasInputImages(body: Record<string, unknown>): boolean {
  return (
    Array.isArray(body.images) &&
    body.images.length > 0 &&
    body.images.every(
      (image: unknown) =>
        typeof image === 'object' &&
        image !== null &&
        (typeof (image as { image_url?: unknown }).image_url === 'string' ||
          typeof (image as { file_id?: unknown }).file_id === 'string'),
    )
  );
}

/**
 * A deterministic vector of `dims` values in [-1, 1] with 8 decimals, like a real provider's floats:
 * an sfc32 generator seeded with the text's SHA-256 (cheap enough for thousands of dimensions).
 */
export function vectorOf(text: string, dims = DEFAULT_EMBEDDING_DIMS): number[] {
  const digest = createHash('sha256').update(text).digest();
  let a = digest.readUInt32LE(0);
  let b = digest.readUInt32LE(4);
  let c = digest.readUInt32LE(8);
  let d = digest.readUInt32LE(12);
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (((c << 21) | (c >>> 11)) + t) | 0;
    return (t >>> 0) / 4_294_967_295;
  };
  return Array.from({ length: dims }, () => Number((next() * 2 - 1).toFixed(8)));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  response.end(payload);
}
