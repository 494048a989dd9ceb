import { describe, expect, it } from 'vitest';
import { fromMessageResult, toMessagesParams, TranslationError } from './messages-translation';

const user = (content: unknown) => ({ role: 'user', content });
const chat = (fields: Record<string, unknown> = {}) => ({ model: 'claude-x', messages: [user('Hi')], ...fields });
const translate = (fields: Record<string, unknown> = {}) => toMessagesParams(chat(fields), 1024);
const refusal = (fields: Record<string, unknown>) => () => translate(fields);

describe('toMessagesParams', () => {
  it('translates a plain request, max_tokens defaulting to the given value', () => {
    expect(translate()).toEqual({ model: 'claude-x', max_tokens: 1024, messages: [{ role: 'user', content: 'Hi' }] });
  });

  it.each([
    [{ max_tokens: 50 }, 50],
    [{ max_completion_tokens: 70 }, 70],
    [{ max_completion_tokens: 70, max_tokens: 50 }, 70],
    [{ max_tokens: null }, 1024],
  ])('takes max_tokens from %j', (fields, expected) => {
    expect(translate(fields).max_tokens).toBe(expected);
  });

  it.each([[{ max_tokens: 0 }], [{ max_completion_tokens: 1.5 }], [{ max_tokens: '5' }]])(
    'refuses max tokens %j',
    (fields) => {
      expect(refusal(fields)).toThrow(TranslationError);
    },
  );

  it('joins system and developer messages, text parts included, into the top-level system prompt', () => {
    const params = toMessagesParams(
      {
        model: 'm',
        messages: [
          { role: 'system', content: 'Be brief.' },
          {
            role: 'developer',
            content: [
              { type: 'text', text: 'Answer in ' },
              { type: 'text', text: 'French.' },
            ],
          },
          user('Hi'),
        ],
      },
      10,
    );
    expect(params.system).toBe('Be brief.\n\nAnswer in French.');
    expect(params.messages).toEqual([{ role: 'user', content: 'Hi' }]);
  });

  it('translates text and image parts: data: URLs as base64, http(s) URLs as url sources', () => {
    const params = translate({
      messages: [
        user([
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'high' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
        ]),
      ],
    });
    expect(params.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ],
      },
    ]);
  });

  it('translates a tool round trip: tool calls become tool_use, tool messages one user turn of tool_result', () => {
    const params = translate({
      messages: [
        user('Weather in Paris and Rome?'),
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_2', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'Sunny' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'Rainy' }] },
        user('Thanks'),
      ],
    });
    expect(params.messages).toEqual([
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'weather', input: { city: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: 'Sunny' },
          { type: 'tool_result', tool_use_id: 'call_2', content: 'Rainy' },
          { type: 'text', text: 'Thanks' },
        ],
      },
    ]);
  });

  it('keeps an assistant text before its tool calls and merges consecutive same-role turns', () => {
    const params = translate({
      messages: [
        user('a'),
        user([{ type: 'text', text: 'b' }]),
        {
          role: 'assistant',
          content: 'Let me check.',
          tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
      ],
    });
    expect(params.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'a' },
          { type: 'text', text: 'b' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me check.' },
          { type: 'tool_use', id: 't', name: 'f', input: {} },
        ],
      },
    ]);
  });

  it.each([
    ['END', ['END']],
    [
      ['a', 'b'],
      ['a', 'b'],
    ],
  ])('translates stop %j to stop_sequences', (stop, expected) => {
    expect(translate({ stop }).stop_sequences).toEqual(expected);
  });

  it('copies temperature and top_p, and sends user as metadata.user_id', () => {
    expect(translate({ temperature: 0.2, top_p: 0.9, user: 'u-1' })).toMatchObject({
      temperature: 0.2,
      top_p: 0.9,
      metadata: { user_id: 'u-1' },
    });
    expect(translate({ temperature: 1, top_p: 0 })).toMatchObject({ temperature: 1, top_p: 0 });
  });

  it('translates tools, with an empty object schema for a tool without parameters', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const params = translate({
      tools: [
        { type: 'function', function: { name: 'weather', description: 'Weather now', parameters: schema } },
        { type: 'function', function: { name: 'ping' } },
      ],
    });
    expect(params.tools).toEqual([
      { name: 'weather', description: 'Weather now', input_schema: schema },
      { name: 'ping', input_schema: { type: 'object', properties: {} } },
    ]);
  });

  it.each([
    [{ tool_choice: 'auto' }, { type: 'auto' }],
    [{ tool_choice: 'required' }, { type: 'any' }],
    [{ tool_choice: 'none' }, { type: 'none' }],
    [{ tool_choice: { type: 'function', function: { name: 'f' } } }, { type: 'tool', name: 'f' }],
    [
      { tool_choice: 'required', parallel_tool_calls: false },
      { type: 'any', disable_parallel_tool_use: true },
    ],
    [{ parallel_tool_calls: false }, { type: 'auto', disable_parallel_tool_use: true }],
    [{ tool_choice: 'none', parallel_tool_calls: false }, { type: 'none' }],
    [{ parallel_tool_calls: true }, undefined],
  ])('translates %j to tool_choice %j', (fields, expected) => {
    expect(translate(fields).tool_choice).toEqual(expected);
  });

  it('drops OpenAI-only fields that change nothing about the answer', () => {
    const params = translate({
      logprobs: false,
      store: true,
      seed: 7,
      response_format: { type: 'text' },
      stream: false,
      stream_options: { include_usage: true },
      service_tier: 'auto',
      metadata: { team: 'x' },
      n: 1,
      frequency_penalty: null,
    });
    expect(params).toEqual({ model: 'claude-x', max_tokens: 1024, messages: [{ role: 'user', content: 'Hi' }] });
  });

  it.each([
    [{ stream: true }, 'stream'],
    [{ n: 2 }, 'n'],
    [{ logprobs: true }, 'logprobs'],
    [{ presence_penalty: 0.5 }, 'presence_penalty'],
    [{ logit_bias: { 1: 2 } }, 'logit_bias'],
    [{ response_format: { type: 'json_object' } }, 'response_format'],
    [{ response_format: { type: 'json_schema', json_schema: {} } }, 'response_format'],
    [{ model: 5 }, 'model'],
    [{ messages: 'hi' }, 'messages'],
    [{ messages: [{ role: 'system', content: 'only a system prompt' }] }, 'messages'],
    [{ messages: [{ role: 'function', name: 'f', content: 'x' }] }, 'messages[0].role'],
    [{ messages: [user([{ type: 'input_audio', input_audio: {} }])] }, 'messages[0].content[0].type'],
    [{ messages: [user([{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }])] }, 'messages[0].content[0]'],
    [
      {
        messages: [
          user('x'),
          {
            role: 'assistant',
            tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{"city":' } }],
          },
        ],
      },
      'messages[1].tool_calls[0].function.arguments',
    ],
    [
      {
        messages: [
          user('x'),
          { role: 'assistant', tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '[1]' } }] },
        ],
      },
      'messages[1].tool_calls[0].function.arguments',
    ],
    [{ messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
    [{ tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    [{ tool_choice: 'sometimes' }, 'tool_choice'],
    [{ stop: [1] }, 'stop[0]'],
    [{ temperature: '0.5' }, 'temperature'],
    // OpenAI takes up to 2; Anthropic would refuse each such line only after running the batch.
    [{ temperature: 1.5 }, 'temperature'],
    [{ temperature: -0.1 }, 'temperature'],
    [{ top_p: 1.01 }, 'top_p'],
  ])('refuses %j, naming %s', (fields, field) => {
    expect(refusal(fields)).toThrow(TranslationError);
    expect(refusal(fields)).toThrow(field);
  });

  it('refuses a body that is not an object', () => {
    expect(() => toMessagesParams('{"model":"m"}', 10)).toThrow(TranslationError);
  });
});

const message = (fields: Record<string, unknown> = {}) => ({
  id: 'msg_01',
  type: 'message',
  role: 'assistant',
  model: 'claude-x',
  content: [{ type: 'text', text: 'Hello' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 10, output_tokens: 3 },
  ...fields,
});
const succeeded = (fields: Record<string, unknown> = {}) => ({
  custom_id: 'line-1',
  result: { type: 'succeeded', message: message(fields) },
});

describe('fromMessageResult', () => {
  it('translates a succeeded message into a chat.completion', () => {
    expect(fromMessageResult(succeeded())).toEqual({
      customId: 'line-1',
      kind: 'succeeded',
      requestId: 'msg_01',
      body: {
        id: 'chatcmpl-msg_01',
        object: 'chat.completion',
        created: expect.any(Number),
        model: 'claude-x',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'Hello', refusal: null },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
        usage: {
          prompt_tokens: 10,
          completion_tokens: 3,
          total_tokens: 13,
          prompt_tokens_details: { cached_tokens: 0 },
        },
      },
    });
  });

  it('reads a line given as text too, with created in seconds', () => {
    const result = fromMessageResult(JSON.stringify(succeeded()));
    expect(result.kind).toBe('succeeded');
    const created = result.kind === 'succeeded' ? result.body.created : 0;
    expect(Math.abs(created - Date.now() / 1000)).toBeLessThan(5);
  });

  it('joins text blocks, drops thinking blocks and turns tool_use blocks into tool calls', () => {
    const result = fromMessageResult(
      succeeded({
        content: [
          { type: 'thinking', thinking: 'hmm', signature: 's' },
          { type: 'text', text: 'Checking ' },
          { type: 'text', text: 'now.' },
          { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } },
        ],
        stop_reason: 'tool_use',
      }),
    );
    expect(result.kind === 'succeeded' && result.body.choices[0]).toEqual({
      index: 0,
      message: {
        role: 'assistant',
        content: 'Checking now.',
        refusal: null,
        tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
      },
      logprobs: null,
      finish_reason: 'tool_calls',
    });
  });

  it('answers null content when the message has no text block', () => {
    const result = fromMessageResult(
      succeeded({ content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }], stop_reason: 'tool_use' }),
    );
    expect(result.kind === 'succeeded' && result.body.choices[0].message.content).toBeNull();
  });

  it('counts cache reads and writes in prompt tokens, cache reads as cached tokens', () => {
    const result = fromMessageResult(
      succeeded({
        usage: { input_tokens: 10, cache_read_input_tokens: 100, cache_creation_input_tokens: 20, output_tokens: 5 },
      }),
    );
    expect(result.kind === 'succeeded' && result.body.usage).toEqual({
      prompt_tokens: 130,
      completion_tokens: 5,
      total_tokens: 135,
      prompt_tokens_details: { cached_tokens: 100 },
    });
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
    ['some_future_reason', 'stop'],
  ])('maps stop_reason %s to finish_reason %s', (stopReason, finishReason) => {
    const result = fromMessageResult(succeeded({ stop_reason: stopReason }));
    expect(result.kind === 'succeeded' && result.body.choices[0].finish_reason).toBe(finishReason);
  });

  it.each([
    ['invalid_request_error', 400],
    ['authentication_error', 401],
    ['permission_error', 403],
    ['not_found_error', 404],
    ['request_too_large', 413],
    ['rate_limit_error', 429],
    ['api_error', 500],
    ['overloaded_error', 529],
    ['some_new_error', 500],
  ])('translates an errored %s into status %i with an OpenAI error body', (type, statusCode) => {
    const line = {
      custom_id: 'line-2',
      result: { type: 'errored', error: { type: 'error', error: { type, message: 'Went wrong.' } } },
    };
    expect(fromMessageResult(line)).toEqual({
      customId: 'line-2',
      kind: 'errored',
      statusCode,
      body: { error: { message: 'Went wrong.', type, param: null, code: null } },
    });
  });

  it.each(['canceled', 'expired'])('translates a %s request', (type) => {
    expect(fromMessageResult({ custom_id: 'line-3', result: { type } })).toEqual({ customId: 'line-3', kind: type });
  });

  it.each([
    ['not JSON', '{"custom_id":'],
    ['not an object', [1]],
    ['no custom_id', { result: { type: 'canceled' } }],
    ['an unknown result type', { custom_id: 'a', result: { type: 'paused' } }],
    ['a succeeded line without a message', { custom_id: 'a', result: { type: 'succeeded' } }],
    ['a message without usage', { custom_id: 'a', result: { type: 'succeeded', message: message({ usage: null }) } }],
    ['an errored line without an error', { custom_id: 'a', result: { type: 'errored', error: { type: 'error' } } }],
  ])('refuses %s', (_, line) => {
    expect(() => fromMessageResult(line)).toThrow(TranslationError);
  });
});
