import { countTokens as countCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';

export type EncodingName = 'o200k_base' | 'cl100k_base';

export interface Tokenizer {
  /** The encoding, with " (fallback)" when the model is not one we know. */
  label: string;
  count(text: string): number;
}

/** User text is counted as text: "<|endoftext|>" in a prompt is 7 ordinary tokens, not a special one. */
const AS_TEXT = { disallowedSpecial: new Set<string>() };
const COUNTERS: Record<EncodingName, (text: string) => number> = {
  o200k_base: (text) => countO200k(text, AS_TEXT),
  cl100k_base: (text) => countCl100k(text, AS_TEXT),
};

/** Model families by name prefix, first match wins (gpt-4o before gpt-4). */
const FAMILIES: [RegExp, EncodingName][] = [
  [/^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o1|o3|o4|codex|omni-moderation)/, 'o200k_base'],
  [/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada-002|davinci-002|babbage-002)/, 'cl100k_base'],
];

/** Unknown models are counted with the newest encoding, and the answer says so. */
export const FALLBACK_ENCODING: EncodingName = 'o200k_base';

export function tokenizerFor(model: string): Tokenizer {
  const known = FAMILIES.find(([pattern]) => pattern.test(model))?.[1];
  const encoding = known ?? FALLBACK_ENCODING;
  return { label: known ? encoding : `${encoding} (fallback)`, count: COUNTERS[encoding] };
}

/**
 * OpenAI's published counting for chat: every message costs 3 tokens of framing plus its role and content
 * (1 more with a `name`), and every reply is primed with 3 more. Images, audio and tool schemas are not counted.
 */
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING = 3;

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A content string, or the text of its text parts (`text`, `input_text`, `output_text`). */
function contentText(content: unknown): string[] {
  if (typeof content === 'string') {
    return [content];
  }
  if (!Array.isArray(content)) {
    return [];
  }
  return content.flatMap((part) => (isObject(part) && typeof part.text === 'string' ? [part.text] : []));
}

function countMessages(messages: unknown[], tokenizer: Tokenizer): number {
  let total = REPLY_PRIMING;
  for (const message of messages) {
    if (!isObject(message)) {
      continue;
    }
    total += TOKENS_PER_MESSAGE;
    if (typeof message.role === 'string') {
      total += tokenizer.count(message.role);
    }
    if (typeof message.name === 'string') {
      total += tokenizer.count(message.name) + TOKENS_PER_NAME;
    }
    for (const text of contentText(message.content)) {
      total += tokenizer.count(text);
    }
  }
  return total;
}

/** `input`/`prompt` of embeddings, completions and moderations: a string, strings, token ids, or lists of ids. */
function countPlainInput(input: unknown, tokenizer: Tokenizer): number {
  if (typeof input === 'string') {
    return tokenizer.count(input);
  }
  if (!Array.isArray(input)) {
    return 0;
  }
  let total = 0;
  for (const item of input) {
    if (typeof item === 'string') {
      total += tokenizer.count(item);
    } else if (typeof item === 'number') {
      total += 1;
    } else if (Array.isArray(item)) {
      total += item.filter((id) => typeof id === 'number').length;
    } else if (isObject(item) && typeof item.text === 'string') {
      total += tokenizer.count(item.text);
    }
  }
  return total;
}

/** Responses: `instructions` counts as a system message; `input` is a string or a list of message items. */
function countResponsesInput(body: Json, tokenizer: Tokenizer): number {
  const messages: unknown[] = [];
  if (typeof body.instructions === 'string') {
    messages.push({ role: 'system', content: body.instructions });
  }
  if (typeof body.input === 'string') {
    messages.push({ role: 'user', content: body.input });
  } else if (Array.isArray(body.input)) {
    messages.push(...(body.input as unknown[]));
  }
  return countMessages(messages, tokenizer);
}

/** The input tokens of one request body sent to `endpoint`. */
export function countInputTokens(endpoint: string, body: Json, tokenizer: Tokenizer): number {
  switch (endpoint) {
    case '/v1/chat/completions':
      return Array.isArray(body.messages) ? countMessages(body.messages, tokenizer) : 0;
    case '/v1/responses':
      return countResponsesInput(body, tokenizer);
    case '/v1/completions':
    case '/v1/images/generations':
    case '/v1/images/edits':
    case '/v1/videos':
      // Input images of an edit are not counted: their tokens depend on their pixels, which a line only names.
      return countPlainInput(body.prompt, tokenizer);
    default:
      return countPlainInput(body.input, tokenizer);
  }
}

/** Endpoints whose answers are generated text, so whose requests may carry an output ceiling. */
const GENERATING = new Set(['/v1/chat/completions', '/v1/completions', '/v1/responses']);
const IMAGES = new Set(['/v1/images/generations', '/v1/images/edits']);

const CEILING_FIELDS = ['max_completion_tokens', 'max_tokens', 'max_output_tokens'] as const;

/**
 * gpt-image-1's output tokens for one square image by quality (OpenAI's pricing table); `auto` and an unknown
 * quality count as high, the most it may cost.
 */
const IMAGE_OUTPUT_TOKENS: Record<string, number> = { low: 272, medium: 1056, high: 4160 };
/** A portrait, landscape or `auto` image has 1.5 times the tokens of a square one. */
const NON_SQUARE_FACTOR = 1.5;

/** How many answers a request asks for: `n` (chat, completions, images), else one. */
function answersOf(body: Json): number {
  const n = body.n;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : 1;
}

/**
 * The most output tokens a request may produce: its own ceiling (or `fallback` when it sets none) for each of the
 * `n` answers it asks for; an image's tokens by quality and size. Embeddings, moderations and videos (billed by
 * the second, not in tokens) produce no output tokens.
 */
export function outputCeiling(endpoint: string, body: Json, fallback: number): { tokens: number; stated: boolean } {
  if (IMAGES.has(endpoint)) {
    const perImage = IMAGE_OUTPUT_TOKENS[String(body.quality)] ?? IMAGE_OUTPUT_TOKENS.high;
    const factor = body.size === '1024x1024' ? 1 : NON_SQUARE_FACTOR;
    return { tokens: Math.ceil(perImage * factor) * answersOf(body), stated: true };
  }
  if (!GENERATING.has(endpoint)) {
    return { tokens: 0, stated: true };
  }
  for (const field of CEILING_FIELDS) {
    const value = body[field];
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
      return { tokens: value * answersOf(body), stated: true };
    }
  }
  return { tokens: fallback * answersOf(body), stated: false };
}
