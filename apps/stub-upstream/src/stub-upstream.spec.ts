import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createStubUpstream, type StubOptions, vectorOf } from './stub-upstream';

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
