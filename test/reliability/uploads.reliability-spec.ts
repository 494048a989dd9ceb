import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEnvelope, newTenant, type Tenant } from '../support/clients';
import { type ApiHandle, startApi } from '../support/processes';
import { multipart, type Part, postMultipart, StoredDataGuard } from '../support/reliability';

const MAX_UPLOAD = 12 * 1024 * 1024;
const IDLE_TIMEOUT_MS = 2000;
const LINE = '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}';

const filePart = (content: string | Buffer, filename = 'in.jsonl'): Part => ({ name: 'file', filename, content });
const purpose = (value: string): Part => ({ name: 'purpose', content: value });

/** Careless and hostile uploads: each gets a clear 4xx in the envelope, stores nothing, and loses nothing. */
describe('Uploads that try to break the Files API', () => {
  let api: ApiHandle;
  let tenant: Tenant;
  let guard: StoredDataGuard;

  beforeAll(async () => {
    api = await startApi({
      MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
      HTTP_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
      BATCH_MAX_FILE_BYTES: String(16 * 1024 * 1024),
    });
    tenant = await newTenant(api.url);
    guard = await StoredDataGuard.create(api, tenant);
  });
  afterAll(() => api?.stop());

  const refused: [string, () => Buffer, number, { param?: string | null; message?: RegExp }, string?][] = [
    ['no file part', () => multipart([purpose('batch')]), 400, { param: 'file', message: /'file'/ }],
    [
      'two file parts',
      () => multipart([purpose('user_data'), filePart('one', 'a.txt'), filePart('two', 'b.txt')]),
      400,
      { param: 'file', message: /Only one file/ },
    ],
    [
      'the file under another field name',
      () => multipart([purpose('user_data'), { name: 'upload', filename: 'a.txt', content: 'x' }]),
      400,
      { param: 'file', message: /'upload'/ },
    ],
    ['a missing purpose', () => multipart([filePart('x', 'a.txt')]), 400, { param: 'purpose', message: /Missing/ }],
    ['an empty purpose', () => multipart([filePart('x', 'a.txt'), purpose('')]), 400, { param: 'purpose' }],
    [
      'an unknown purpose',
      () => multipart([filePart('x', 'a.txt'), purpose('world_domination')]),
      400,
      { param: 'purpose', message: /'world_domination' is not one of/ },
    ],
    [
      'a truncated multipart body',
      () => multipart([purpose('user_data'), filePart('cut short', 'a.txt')], { close: false }).subarray(0, -4),
      400,
      { message: /Invalid multipart form/ },
    ],
    [
      'an empty batch file',
      () => multipart([purpose('batch'), filePart('')]),
      400,
      { param: 'file', message: /empty/ },
    ],
    [
      'a batch file of only blank lines',
      () => multipart([purpose('batch'), filePart('\n\r\n  \n')]),
      400,
      { param: 'file', message: /empty/ },
    ],
    [
      'invalid UTF-8 with purpose batch',
      () =>
        multipart([
          purpose('batch'),
          filePart(Buffer.concat([Buffer.from(`${LINE}\n{"x":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')])),
        ]),
      400,
      { param: 'file', message: /Line 2 is not valid UTF-8/ },
    ],
    [
      'a batch file that is not .jsonl',
      () => multipart([purpose('batch'), filePart(`${LINE}\n`, 'in.json')]),
      400,
      { param: 'file', message: /Must be \.jsonl/ },
    ],
    [
      'one byte over the upload limit',
      () => multipart([purpose('user_data'), filePart(Buffer.alloc(MAX_UPLOAD + 1, 1), 'big.bin')]),
      413,
      { param: 'file', message: /too large/ },
    ],
    [
      'a filename with a NUL (RFC 5987 form)',
      () => multipart([purpose('user_data'), { name: 'file', filenameStar: 'a%00b.txt', content: 'x' }]),
      400,
      { param: 'file', message: /NUL/ },
    ],
  ];

  it.each(refused)('%s: %i, nothing stored', async (_what, body, status, expected) => {
    const before = guard.snapshot();
    const listed = (await tenant.client.files.list()).data.length;
    expectEnvelope(await postMultipart(api, tenant.key, body()), status, expected);
    expect((await tenant.client.files.list()).data).toHaveLength(listed);
    await guard.check(before);
  });

  it.each([
    ['JSON', 'application/json', '{"purpose":"batch"}'],
    ['form-urlencoded', 'application/x-www-form-urlencoded', 'purpose=batch&file=abc'],
    ['plain text', 'text/plain', 'hello'],
    ['multipart without a boundary', 'multipart/form-data', '--x\r\n'],
  ])('a body sent as %s instead of multipart: 400, nothing stored', async (_what, contentType, body) => {
    const before = guard.snapshot();
    expectEnvelope(await postMultipart(api, tenant.key, Buffer.from(body), contentType), 400);
    await guard.check(before);
  });

  it.each([
    ['a path', '../../etc/passwd.jsonl', 'passwd.jsonl'],
    ['backslashes', '..\\..\\boot.jsonl', 'boot.jsonl'],
    ['1,000 characters', `${'n'.repeat(994)}.jsonl`, `${'n'.repeat(994)}.jsonl`],
    ['emoji', 'requests-🚀🧪.jsonl', 'requests-🚀🧪.jsonl'],
    ['non-Latin script', '請求-données.jsonl', '請求-données.jsonl'],
  ])(
    'a filename with %s is kept (as its last path segment) and stores nothing outside the workspace',
    async (_what, sent, kept) => {
      const before = guard.snapshot();
      const stored = await postMultipart(api, tenant.key, multipart([filePart(`${LINE}\n`, sent), purpose('batch')]));
      expect(stored.status).toBe(200);
      expect(stored.body).toMatchObject({ object: 'file', filename: kept, bytes: LINE.length + 1, purpose: 'batch' });
      expect((await tenant.client.files.retrieve(stored.body.id)).filename).toBe(kept);
      await guard.check(before, 1);
      expect(guard.snapshot().filter((path) => !before.includes(path))).toEqual([
        `${api.storageDir}/${tenant.workspaceId}/files/${stored.body.id}`,
      ]);
      await tenant.client.files.delete(stored.body.id);
    },
  );

  it('a filename with CR/LF cannot inject a part header: the part is not a file, 400', async () => {
    const before = guard.snapshot();
    const result = await postMultipart(
      api,
      tenant.key,
      multipart([purpose('user_data'), filePart('x', 'a.txt\r\nContent-Type: text/evil')]),
    );
    expectEnvelope(result, 400, { param: 'file' });
    await guard.check(before);
  });

  it.each([
    ['CRLF line endings', `${LINE}\r\n${LINE.replace('"a"', '"b"')}\r\n`],
    ['a byte order mark', `\uFEFF${LINE}\n`],
    ['trailing blank lines', `${LINE}\n\n\n  \n`],
    ['no final newline', LINE],
    [
      'a single 10 MB line',
      `{"custom_id":"big","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"${'x'.repeat(10 * 1024 * 1024)}"}]}}\n`,
    ],
  ])('a batch file with %s is accepted byte for byte', async (_what, content) => {
    const before = guard.snapshot();
    const result = await postMultipart(api, tenant.key, multipart([purpose('batch'), filePart(content)]));
    expect(result.status).toBe(200);
    expect(result.body.bytes).toBe(Buffer.byteLength(content));
    const back = Buffer.from(await (await tenant.client.files.content(result.body.id)).arrayBuffer());
    expect(back.equals(Buffer.from(content))).toBe(true);
    await guard.check(before, 1);
    await tenant.client.files.delete(result.body.id);
  });

  it('a file exactly at the upload limit is stored', async () => {
    const before = guard.snapshot();
    const result = await postMultipart(
      api,
      tenant.key,
      multipart([purpose('user_data'), filePart(Buffer.alloc(MAX_UPLOAD, 2), 'exact.bin')]),
    );
    expect(result.status).toBe(200);
    expect(result.body.bytes).toBe(MAX_UPLOAD);
    await guard.check(before, 1);
    await tenant.client.files.delete(result.body.id);
  });

  it('an empty file with a purpose other than batch is stored, 0 bytes', async () => {
    const result = await postMultipart(api, tenant.key, multipart([purpose('user_data'), filePart('', 'empty.txt')]));
    expect(result.status).toBe(200);
    expect(result.body.bytes).toBe(0);
    expect(await (await tenant.client.files.content(result.body.id)).text()).toBe('');
    await tenant.client.files.delete(result.body.id);
  });

  it('an upload slower than any fixed deadline completes while its bytes keep coming', async () => {
    // Sent over 2.5 idle timeouts, never idle for one: idleness ends a request, its length does not.
    const body = multipart([purpose('user_data'), filePart(Buffer.alloc(10 * 1024, 3), 'slow.bin')]);
    const pieces = 10;
    const socket = await rawSocket(api);
    socket.write(request(tenant.key, body.length));
    for (let i = 0; i < pieces; i++) {
      socket.write(body.subarray((i * body.length) / pieces, ((i + 1) * body.length) / pieces));
      await new Promise((resolve) => setTimeout(resolve, (2.5 * IDLE_TIMEOUT_MS) / pieces));
    }
    const reply = await readReply(socket);
    expect(reply).toMatch(/^HTTP\/1\.1 200/);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4))).toMatchObject({ bytes: 10 * 1024 });
  });

  it('an upload that stops sending is cut after the idle timeout and leaves nothing behind', async () => {
    const before = guard.snapshot();
    const listed = (await tenant.client.files.list()).data.length;
    const body = multipart([purpose('user_data'), filePart(Buffer.alloc(100 * 1024, 4), 'stalled.bin')]);
    const socket = await rawSocket(api);
    socket.write(request(tenant.key, body.length));
    socket.write(body.subarray(0, body.length / 2));
    const closed = Date.now();
    await once(socket, 'close');
    expect(Date.now() - closed).toBeLessThan(IDLE_TIMEOUT_MS * 5);
    expect((await tenant.client.files.list()).data).toHaveLength(listed);
    await guard.check(before);
  });

  it('a client gone in the middle of an upload leaves no partial file and no row', async () => {
    const before = guard.snapshot();
    const listed = (await tenant.client.files.list()).data.length;
    const socket = await rawSocket(api);
    socket.write(request(tenant.key, 1_000_000));
    socket.write(multipart([purpose('user_data'), filePart(Buffer.alloc(50_000, 5), 'gone.bin')], { close: false }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();
    await guard.check(before);
    expect((await tenant.client.files.list()).data).toHaveLength(listed);
  });
});

async function rawSocket(api: ApiHandle) {
  const socket = connect(Number(new URL(api.url).port), '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

const request = (key: string, length: number) =>
  `POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nConnection: close\r\n` +
  `Content-Type: multipart/form-data; boundary=venna-reliability-boundary\r\nContent-Length: ${length}\r\n\r\n`;

async function readReply(socket: ReturnType<typeof connect>): Promise<string> {
  let reply = '';
  socket.on('data', (data: Buffer) => (reply += data.toString()));
  await once(socket, 'close');
  return reply;
}
