import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createStubUpstream, fillerOf, replyOf, type StubOptions, vectorOf } from './stub-upstream';

/** One /v1/embeddings call to a fresh stub, closed afterwards. */
async function embed(options: StubOptions, input: string): Promise<{ status: number; body: any }> {
  const { server } = createStubUpstream(options);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', connection: 'close' },
      body: JSON.stringify({ model: 'm', input }),
    });
    return { status: response.status, body: await response.json() };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('stub upstream embeddings', () => {
  it('answers 8 dimensions by default, embeddingDims when set, and [stub:dims=N] above both', async () => {
    expect((await embed({}, 'a')).body.data[0].embedding).toHaveLength(8);
    expect((await embed({ embeddingDims: 1536 }, 'a')).body.data[0].embedding).toHaveLength(1536);
    expect((await embed({ embeddingDims: 1536 }, 'a [stub:dims=3072]')).body.data[0].embedding).toHaveLength(3072);
  });

  it('rejects an impossible dims directive with 400', async () => {
    expect((await embed({}, 'a [stub:dims=0]')).status).toBe(400);
  });

  it('makes deterministic vectors in [-1, 1], the same prefix whatever the length', () => {
    const short = vectorOf('hello', 8);
    const long = vectorOf('hello', 1536);
    expect(long.slice(0, 8)).toEqual(short);
    expect(vectorOf('hello', 1536)).toEqual(long);
    expect(vectorOf('other', 8)).not.toEqual(short);
    expect(long.every((value) => value >= -1 && value <= 1)).toBe(true);
    expect(new Set(long).size).toBeGreaterThan(1500);
  });
});

/** A fresh stub on a loopback port for `run`, closed afterwards. */
async function withStub<T>(run: (url: string) => Promise<T>): Promise<T> {
  const { server } = createStubUpstream();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    return await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const chat = (url: string, content: string) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content }] }),
  });

describe('stub upstream fault directives', () => {
  it('[stub:truncate=1] cuts the first answer short, then answers whole', async () => {
    await withStub(async (url) => {
      const first = await chat(url, 'cut [stub:truncate=1]');
      expect(first.status).toBe(200);
      await expect(first.text()).rejects.toThrow();
      const second = await chat(url, 'cut [stub:truncate=1]');
      expect(((await second.json()) as { object: string }).object).toBe('chat.completion');
    });
  });

  it('[stub:errorbody=1] answers 200 with an OpenAI error object', async () => {
    await withStub(async (url) => {
      const response = await chat(url, 'x [stub:errorbody=1]');
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        error: expect.objectContaining({ code: 'stub_injected', message: expect.any(String) }),
      });
    });
  });

  it.each([
    ['-5', (value: string) => expect(value).toBe('-5')],
    ['999999999', (value: string) => expect(value).toBe('999999999')],
    ['past', (value: string) => expect(Date.parse(value)).toBeLessThan(Date.now())],
    ['future', (value: string) => expect(new Date(value).getUTCFullYear()).toBe(9999)],
  ])('[stub:retryafter=%s] answers 429 with that retry-after once, then succeeds', async (value, check) => {
    await withStub(async (url) => {
      const first = await chat(url, `x [stub:retryafter=${value}]`);
      expect(first.status).toBe(429);
      check(first.headers.get('retry-after') ?? '');
      expect(first.headers.get('retry-after-ms')).toBeNull();
      expect((await chat(url, `x [stub:retryafter=${value}]`)).status).toBe(200);
    });
  });

  it('[stub:bytes=N] pads the answer text to at least N bytes, deterministically', async () => {
    await withStub(async (url) => {
      const body = (await (await chat(url, 'big [stub:bytes=100000]')).json()) as {
        choices: { message: { content: string } }[];
      };
      const content = body.choices[0].message.content;
      expect(Buffer.byteLength(content)).toBeGreaterThanOrEqual(100_000);
      expect(content).toBe(
        replyOf('m', JSON.stringify([{ role: 'user', content: 'big [stub:bytes=100000]' }]), 100_000),
      );
      expect(content).toMatch(/中文字, 😀🚀/);
      expect(fillerOf(0)).toBe('');
    });
  });
});

/** One POST to a fresh stub, closed afterwards. */
async function post(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const { server } = createStubUpstream();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', connection: 'close' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('stub upstream images and videos', () => {
  it('answers n images with gpt-image-1 usage by quality, edits counting their input images', async () => {
    const generated = await post('/v1/images/generations', { model: 'gpt-image-1', prompt: 'p', n: 2, quality: 'low' });
    expect(generated.body.data).toHaveLength(2);
    expect(generated.body.usage).toMatchObject({ output_tokens: 544, input_tokens_details: { image_tokens: 0 } });
    const edited = await post('/v1/images/edits', {
      model: 'gpt-image-1',
      prompt: 'p',
      images: [{ file_id: 'file-1' }, { image_url: 'https://example.com/a.png' }],
    });
    expect(edited.body.usage.input_tokens_details.image_tokens).toBe(2 * 388);
    expect((await post('/v1/images/edits', { model: 'gpt-image-1', prompt: 'p', images: [{}] })).status).toBe(400);
  });

  it('answers a completed video object without usage', async () => {
    const video = await post('/v1/videos', { model: 'sora-2', prompt: 'p', seconds: '8' });
    expect(video.body).toMatchObject({ object: 'video', status: 'completed', seconds: '8', model: 'sora-2' });
    expect(video.body.usage).toBeUndefined();
  });
});
