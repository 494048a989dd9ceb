/**
 * Translation between OpenAI's chat completions (what our batch lines carry and what our output file must hold)
 * and Anthropic's Messages API (what a native Anthropic Message Batch runs). A line that cannot be said faithfully
 * in the other format is refused with a TranslationError naming the field, rather than answered differently
 * from what was asked.
 */

/** A chat completions line that Anthropic's Messages API cannot express, or a result line of an unknown shape. */
export class TranslationError extends Error {
  override readonly name = 'TranslationError';
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export interface ChatCompletionToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** An OpenAI `chat.completion` object, as our output file holds for an answered line. */
export interface ChatCompletionBody {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: {
    index: number;
    message: { role: 'assistant'; content: string | null; refusal: null; tool_calls?: ChatCompletionToolCall[] };
    logprobs: null;
    finish_reason: FinishReason;
  }[];
  usage: {
    prompt_tokens: number;
    completion_tokens: number;
    total_tokens: number;
    prompt_tokens_details: { cached_tokens: number };
  };
}

/** One line of an Anthropic Message Batch's results, in OpenAI terms. */
export type AnthropicResult =
  | { customId: string; kind: 'succeeded'; body: ChatCompletionBody; requestId: string }
  | {
      customId: string;
      kind: 'errored';
      statusCode: number;
      body: { error: { message: string; type: string; param: null; code: null } };
    }
  | { customId: string; kind: 'canceled' | 'expired' };

type Json = Record<string, unknown>;
type Block = Json;
interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | Block[];
}

// ---------------------------------------------------------------------------------------------------------------
// OpenAI chat completions request → Anthropic Messages params
// ---------------------------------------------------------------------------------------------------------------

/** Fields `toMessagesParams` translates, or checks itself (response_format). */
const TRANSLATED_FIELDS = new Set([
  'model',
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'stop',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'user',
  'response_format',
]);
/** OpenAI-only fields that change nothing Anthropic could honour and nothing about the answer's validity. */
const DROPPED_FIELDS = new Set(['store', 'seed', 'stream_options', 'service_tier', 'metadata']);
/** OpenAI features that are harmless when left at their default, and impossible to honour otherwise. */
const DEFAULT_ONLY_FIELDS: Record<string, unknown> = {
  stream: false,
  n: 1,
  logprobs: false,
  frequency_penalty: 0,
  presence_penalty: 0,
};

/**
 * The Anthropic Messages params for an OpenAI `/v1/chat/completions` body. `defaultMaxTokens` stands in for an
 * absent max_tokens, which Anthropic requires.
 */
export function toMessagesParams(body: unknown, defaultMaxTokens: number): Record<string, unknown> {
  const request = objectAt(body, 'body');
  checkFields(request);
  const { system, messages } = conversationOf(arrayAt(request.messages, 'messages'));
  const params: Json = {
    model: stringAt(request.model, 'model'),
    max_tokens: maxTokensOf(request, defaultMaxTokens),
    messages,
  };
  setIfPresent(params, 'system', system);
  // OpenAI takes a temperature up to 2, Anthropic up to 1: a higher one is refused here, not by the provider later.
  setIfPresent(
    params,
    'temperature',
    optional(request.temperature, (value) => numberBetween(value, 'temperature', 0, 1)),
  );
  setIfPresent(
    params,
    'top_p',
    optional(request.top_p, (value) => numberBetween(value, 'top_p', 0, 1)),
  );
  setIfPresent(params, 'stop_sequences', optional(request.stop, stopSequencesOf));
  setIfPresent(params, 'tools', optional(request.tools, toolsOf));
  setIfPresent(params, 'tool_choice', toolChoiceOf(request.tool_choice, request.parallel_tool_calls));
  setIfPresent(
    params,
    'metadata',
    optional(request.user, (user) => ({ user_id: stringAt(user, 'user') })),
  );
  return params;
}

/** Refuses any field we neither translate nor may safely drop, so no line is answered other than as asked. */
function checkFields(request: Json): void {
  for (const [field, value] of Object.entries(request)) {
    if (!isPresent(value) || TRANSLATED_FIELDS.has(field) || DROPPED_FIELDS.has(field)) {
      continue;
    }
    if (!(field in DEFAULT_ONLY_FIELDS)) {
      throw new TranslationError(`'${field}' has no equivalent in Anthropic's Messages API`);
    }
    if (value !== DEFAULT_ONLY_FIELDS[field]) {
      throw new TranslationError(
        `'${field}' = ${JSON.stringify(value)} is not supported by an Anthropic batch (only ${JSON.stringify(DEFAULT_ONLY_FIELDS[field])})`,
      );
    }
  }
  const format = request.response_format;
  if (isPresent(format) && objectAt(format, 'response_format').type !== 'text') {
    throw new TranslationError(
      `'response_format' of type ${JSON.stringify((format as Json).type)} has no equivalent in Anthropic's Messages API`,
    );
  }
}

function maxTokensOf(request: Json, defaultMaxTokens: number): number {
  const field = isPresent(request.max_completion_tokens) ? 'max_completion_tokens' : 'max_tokens';
  const value = isPresent(request[field]) ? request[field] : defaultMaxTokens;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TranslationError(`'${field}' must be a positive integer`);
  }
  return value;
}

/** System and developer messages become the top-level system prompt; the rest become alternating turns. */
function conversationOf(list: unknown[]): { system?: string; messages: AnthropicMessage[] } {
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  list.forEach((raw, index) => {
    const where = `messages[${index}]`;
    const message = objectAt(raw, where);
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(textOf(message.content, `${where}.content`));
        break;
      case 'user':
        appendTurn(messages, 'user', userContentOf(message.content, `${where}.content`));
        break;
      case 'assistant':
        appendTurn(messages, 'assistant', assistantContentOf(message, where));
        break;
      case 'tool':
        appendTurn(messages, 'user', [toolResultOf(message, where)]);
        break;
      default:
        throw new TranslationError(`${where}.role ${JSON.stringify(message.role)} cannot be translated`);
    }
  });
  if (messages.length === 0) {
    throw new TranslationError("'messages' holds no user or assistant message");
  }
  return { system: system.length > 0 ? system.join('\n\n') : undefined, messages };
}

/**
 * Adds a turn, merged into the previous one when it has the same role: consecutive tool results (and a user
 * message after them) must reach Anthropic as one user turn, tool results first.
 */
function appendTurn(messages: AnthropicMessage[], role: AnthropicMessage['role'], content: string | Block[]): void {
  const last = messages.at(-1);
  if (last?.role !== role) {
    messages.push({ role, content });
    return;
  }
  last.content = [...blocksOf(last.content), ...blocksOf(content)];
}

/** Content as blocks; an empty string becomes none, as Anthropic refuses empty text blocks. */
const blocksOf = (content: string | Block[]): Block[] =>
  typeof content !== 'string' ? content : content === '' ? [] : [{ type: 'text', text: content }];

/** The text of string content or of content made only of text parts (system, developer and tool messages). */
function textOf(content: unknown, where: string): string {
  if (typeof content === 'string') {
    return content;
  }
  return arrayAt(content, where)
    .map((raw, index) => {
      const part = objectAt(raw, `${where}[${index}]`);
      if (part.type !== 'text') {
        throw new TranslationError(`${where}[${index}].type ${JSON.stringify(part.type)} cannot be translated here`);
      }
      return stringAt(part.text, `${where}[${index}].text`);
    })
    .join('');
}

function userContentOf(content: unknown, where: string): string | Block[] {
  if (typeof content === 'string') {
    return content;
  }
  return arrayAt(content, where).map((raw, index) => {
    const part = objectAt(raw, `${where}[${index}]`);
    switch (part.type) {
      case 'text':
        return { type: 'text', text: stringAt(part.text, `${where}[${index}].text`) };
      case 'image_url': {
        const image = objectAt(part.image_url, `${where}[${index}].image_url`);
        return imageBlockOf(stringAt(image.url, `${where}[${index}].image_url.url`), `${where}[${index}]`);
      }
      default:
        throw new TranslationError(`${where}[${index}].type ${JSON.stringify(part.type)} cannot be translated`);
    }
  });
}

function imageBlockOf(url: string, where: string): Block {
  const dataUrl = /^data:([\w.+-]+\/[\w.+-]+);base64,/i.exec(url);
  if (dataUrl) {
    return { type: 'image', source: { type: 'base64', media_type: dataUrl[1], data: url.slice(dataUrl[0].length) } };
  }
  if (/^https?:\/\//i.test(url)) {
    return { type: 'image', source: { type: 'url', url } };
  }
  throw new TranslationError(`${where}.image_url.url must be an http(s) URL or a base64 data: URL`);
}

/** An assistant turn: its text, then a tool_use block per tool call. */
function assistantContentOf(message: Json, where: string): string | Block[] {
  if (isPresent(message.function_call)) {
    throw new TranslationError(`${where}.function_call (deprecated) cannot be translated: use tool_calls`);
  }
  const calls = isPresent(message.tool_calls) ? arrayAt(message.tool_calls, `${where}.tool_calls`) : [];
  if (calls.length === 0 && typeof message.content === 'string') {
    return message.content;
  }
  const text = isPresent(message.content) ? assistantTextBlocks(message.content, `${where}.content`) : [];
  const toolUses = calls.map((call, index) => toolUseOf(call, `${where}.tool_calls[${index}]`));
  if (text.length + toolUses.length === 0) {
    throw new TranslationError(`${where} has neither content nor tool_calls`);
  }
  return [...text, ...toolUses];
}

function assistantTextBlocks(content: unknown, where: string): Block[] {
  if (typeof content === 'string') {
    return blocksOf(content);
  }
  return arrayAt(content, where).map((raw, index) => {
    const part = objectAt(raw, `${where}[${index}]`);
    // A refusal the model gave earlier is still what it said: Anthropic has no refusal part, so it stays as text.
    const field = part.type === 'text' ? 'text' : part.type === 'refusal' ? 'refusal' : null;
    if (field === null) {
      throw new TranslationError(`${where}[${index}].type ${JSON.stringify(part.type)} cannot be translated`);
    }
    return { type: 'text', text: stringAt(part[field], `${where}[${index}].${field}`) };
  });
}

function toolUseOf(raw: unknown, where: string): Block {
  const call = objectAt(raw, where);
  if (call.type !== 'function') {
    throw new TranslationError(`${where}.type ${JSON.stringify(call.type)} cannot be translated`);
  }
  const fn = objectAt(call.function, `${where}.function`);
  return {
    type: 'tool_use',
    id: stringAt(call.id, `${where}.id`),
    name: stringAt(fn.name, `${where}.function.name`),
    input: argumentsOf(fn.arguments, `${where}.function.arguments`),
  };
}

/** Tool call arguments, which OpenAI sends as JSON text and Anthropic takes as an object. */
function argumentsOf(raw: unknown, where: string): Json {
  let input: unknown;
  try {
    input = JSON.parse(stringAt(raw, where));
  } catch (error) {
    throw error instanceof TranslationError ? error : new TranslationError(`${where} is not valid JSON`);
  }
  if (!isObject(input)) {
    throw new TranslationError(`${where} must be a JSON object`);
  }
  return input;
}

function toolResultOf(message: Json, where: string): Block {
  return {
    type: 'tool_result',
    tool_use_id: stringAt(message.tool_call_id, `${where}.tool_call_id`),
    content: textOf(message.content, `${where}.content`),
  };
}

function stopSequencesOf(stop: unknown): string[] {
  if (typeof stop === 'string') {
    return [stop];
  }
  return arrayAt(stop, 'stop').map((sequence, index) => stringAt(sequence, `stop[${index}]`));
}

function toolsOf(tools: unknown): Block[] {
  return arrayAt(tools, 'tools').map((raw, index) => {
    const where = `tools[${index}]`;
    const tool = objectAt(raw, where);
    if (tool.type !== 'function') {
      throw new TranslationError(`${where}.type ${JSON.stringify(tool.type)} cannot be translated`);
    }
    const fn = objectAt(tool.function, `${where}.function`);
    const translated: Json = { name: stringAt(fn.name, `${where}.function.name`) };
    setIfPresent(
      translated,
      'description',
      optional(fn.description, (text) => stringAt(text, `${where}.function.description`)),
    );
    translated.input_schema = isPresent(fn.parameters)
      ? objectAt(fn.parameters, `${where}.function.parameters`)
      : { type: 'object', properties: {} };
    return translated;
  });
}

/** tool_choice, with OpenAI's parallel_tool_calls=false carried as Anthropic's disable_parallel_tool_use. */
function toolChoiceOf(choice: unknown, parallel: unknown): Json | undefined {
  if (isPresent(parallel) && typeof parallel !== 'boolean') {
    throw new TranslationError("'parallel_tool_calls' must be a boolean");
  }
  const translated = isPresent(choice)
    ? translateToolChoice(choice)
    : parallel === false
      ? { type: 'auto' }
      : undefined;
  if (translated && parallel === false && translated.type !== 'none') {
    translated.disable_parallel_tool_use = true;
  }
  return translated;
}

const TOOL_CHOICES: Record<string, string> = { auto: 'auto', required: 'any', none: 'none' };

function translateToolChoice(choice: unknown): Json {
  if (typeof choice === 'string') {
    if (!(choice in TOOL_CHOICES)) {
      throw new TranslationError(`'tool_choice' ${JSON.stringify(choice)} cannot be translated`);
    }
    return { type: TOOL_CHOICES[choice] };
  }
  const named = objectAt(choice, 'tool_choice');
  if (named.type !== 'function') {
    throw new TranslationError(`'tool_choice.type' ${JSON.stringify(named.type)} cannot be translated`);
  }
  return {
    type: 'tool',
    name: stringAt(objectAt(named.function, 'tool_choice.function').name, 'tool_choice.function.name'),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Anthropic results line → OpenAI terms
// ---------------------------------------------------------------------------------------------------------------

/** HTTP statuses of Anthropic's error types (docs: "HTTP errors"); an unknown type counts as a server error. */
const STATUS_BY_ERROR_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

const FINISH_REASONS: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  // A paused server-tool turn is still a whole answer for a batch line: nothing resumes it.
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/**
 * One line of an Anthropic Message Batch's results JSONL (parsed, or its text) in OpenAI terms.
 * Throws a TranslationError for a line of any other shape.
 */
export function fromMessageResult(line: unknown): AnthropicResult {
  const entry = objectAt(typeof line === 'string' ? parseLine(line) : line, 'result line');
  const customId = stringAt(entry.custom_id, 'custom_id');
  const result = objectAt(entry.result, 'result');
  switch (result.type) {
    case 'succeeded': {
      const message = objectAt(result.message, 'result.message');
      return { customId, kind: 'succeeded', body: chatCompletionOf(message), requestId: stringAt(message.id, 'id') };
    }
    case 'errored':
      return { customId, kind: 'errored', ...erroredOf(result.error) };
    case 'canceled':
    case 'expired':
      return { customId, kind: result.type };
    default:
      throw new TranslationError(`result.type ${JSON.stringify(result.type)} is not a Message Batch result type`);
  }
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new TranslationError('The result line is not valid JSON');
  }
}

function chatCompletionOf(message: Json): ChatCompletionBody {
  const content = arrayAt(message.content, 'result.message.content').map((raw, index) =>
    objectAt(raw, `result.message.content[${index}]`),
  );
  // Thinking and server-tool blocks have no place in a chat completion: only text and tool calls are kept.
  const texts = content.filter((block) => block.type === 'text');
  const toolCalls = content.filter((block) => block.type === 'tool_use').map(toolCallOf);
  return {
    id: `chatcmpl-${stringAt(message.id, 'result.message.id')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: stringAt(message.model, 'result.message.model'),
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: texts.length > 0 ? texts.map((block) => stringAt(block.text, 'text')).join('') : null,
          refusal: null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        logprobs: null,
        finish_reason: finishReasonOf(message.stop_reason),
      },
    ],
    usage: usageOf(objectAt(message.usage, 'result.message.usage')),
  };
}

function toolCallOf(block: Json): ChatCompletionToolCall {
  return {
    id: stringAt(block.id, 'tool_use.id'),
    type: 'function',
    function: { name: stringAt(block.name, 'tool_use.name'), arguments: JSON.stringify(block.input ?? {}) },
  };
}

/** Anthropic may add stop reasons: an unknown one still ends a whole answer, so it reads as 'stop'. */
function finishReasonOf(stopReason: unknown): FinishReason {
  return typeof stopReason === 'string' ? (FINISH_REASONS[stopReason] ?? 'stop') : 'stop';
}

/** OpenAI's prompt tokens include cached ones; Anthropic counts cache reads and writes apart from input_tokens. */
function usageOf(usage: Json): ChatCompletionBody['usage'] {
  const cacheRead = optionalCount(usage.cache_read_input_tokens, 'cache_read_input_tokens');
  const cacheCreation = optionalCount(usage.cache_creation_input_tokens, 'cache_creation_input_tokens');
  const promptTokens = numberAt(usage.input_tokens, 'usage.input_tokens') + cacheRead + cacheCreation;
  const completionTokens = numberAt(usage.output_tokens, 'usage.output_tokens');
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cacheRead },
  };
}

const optionalCount = (value: unknown, where: string): number =>
  isPresent(value) ? numberAt(value, `usage.${where}`) : 0;

function erroredOf(raw: unknown): Omit<Extract<AnthropicResult, { kind: 'errored' }>, 'customId' | 'kind'> {
  const error = objectAt(objectAt(raw, 'result.error').error, 'result.error.error');
  const type = stringAt(error.type, 'result.error.error.type');
  return {
    statusCode: STATUS_BY_ERROR_TYPE[type] ?? 500,
    body: { error: { message: stringAt(error.message, 'result.error.error.message'), type, param: null, code: null } },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Shape checks: each names the field it found wanting
// ---------------------------------------------------------------------------------------------------------------

/** OpenAI clients send null for a field they leave unset. */
const isPresent = (value: unknown): boolean => value !== undefined && value !== null;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const optional = <T>(value: unknown, translate: (value: unknown) => T): T | undefined =>
  isPresent(value) ? translate(value) : undefined;

function setIfPresent(target: Json, field: string, value: unknown): void {
  if (value !== undefined) {
    target[field] = value;
  }
}

function objectAt(value: unknown, where: string): Json {
  if (!isObject(value)) {
    throw new TranslationError(`'${where}' must be an object`);
  }
  return value;
}

function arrayAt(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) {
    throw new TranslationError(`'${where}' must be an array`);
  }
  return value;
}

function stringAt(value: unknown, where: string): string {
  if (typeof value !== 'string') {
    throw new TranslationError(`'${where}' must be a string`);
  }
  return value;
}

function numberAt(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TranslationError(`'${where}' must be a number`);
  }
  return value;
}

function numberBetween(value: unknown, where: string, least: number, most: number): number {
  const number = numberAt(value, where);
  if (number < least || number > most) {
    throw new TranslationError(`'${where}' must be between ${least} and ${most} on Anthropic's Messages API`);
  }
  return number;
}
