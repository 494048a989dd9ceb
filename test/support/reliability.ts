import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { raw, type Tenant } from './clients';
import type { ApiHandle } from './processes';

/** Every file under `dir`, as paths: what a case must not add to (or take from) storage. */
export const storedFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();

export interface Part {
  name: string;
  content: string | Buffer;
  /** A filename for a file part, written as is into the part header (so it may hold anything). */
  filename?: string;
  /** The RFC 5987 form (`filename*=UTF-8''…`), already percent-encoded. */
  filenameStar?: string;
  contentType?: string;
}

export const MULTIPART_BOUNDARY = 'venna-reliability-boundary';

/** A multipart body built byte by byte, for forms no client library would send. */
export function multipart(parts: Part[], { close = true } = {}): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let disposition = `Content-Disposition: form-data; name="${part.name}"`;
    if (part.filename !== undefined) {
      disposition += `; filename="${part.filename}"`;
    }
    if (part.filenameStar !== undefined) {
      disposition += `; filename*=UTF-8''${part.filenameStar}`;
    }
    const type = part.contentType ?? (part.filename !== undefined ? 'application/octet-stream' : undefined);
    chunks.push(
      Buffer.from(`--${MULTIPART_BOUNDARY}\r\n${disposition}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n`),
    );
    chunks.push(Buffer.isBuffer(part.content) ? part.content : Buffer.from(part.content));
    chunks.push(Buffer.from('\r\n'));
  }
  if (close) {
    chunks.push(Buffer.from(`--${MULTIPART_BOUNDARY}--\r\n`));
  }
  return Buffer.concat(chunks);
}

export const postMultipart = (api: ApiHandle, key: string, body: Buffer, contentType?: string) =>
  raw(api.url, '/v1/files', {
    method: 'POST',
    key,
    headers: { 'content-type': contentType ?? `multipart/form-data; boundary=${MULTIPART_BOUNDARY}` },
    body: new Uint8Array(body),
  });

/**
 * What every hostile case must leave as it was: a file stored before it (row and bytes), the rest of
 * storage (no new or half-written bytes unless the case stored a file), and a healthy api.
 */
export class StoredDataGuard {
  private constructor(
    private readonly api: ApiHandle,
    private readonly tenant: Tenant,
    private readonly keptId: string,
    private readonly keptBytes: string,
  ) {}

  static async create(api: ApiHandle, tenant: Tenant): Promise<StoredDataGuard> {
    const content = `kept ${Math.random()}`;
    const kept = await tenant.client.files.create({ file: new File([content], 'kept.txt'), purpose: 'user_data' });
    return new StoredDataGuard(api, tenant, kept.id, content);
  }

  snapshot(): string[] {
    return storedFiles(this.api.storageDir);
  }

  /** The kept file is whole, storage holds what it held (plus `added` stored files), and the api answers. */
  async check(before: string[], added = 0): Promise<void> {
    await expect.poll(() => this.snapshot().filter((path) => path.endsWith('.partial')), { timeout: 5000 }).toEqual([]);
    const now = this.snapshot();
    expect(now.filter((path) => !before.includes(path))).toHaveLength(added);
    expect(before.filter((path) => !now.includes(path))).toEqual([]);
    expect(await (await this.tenant.client.files.content(this.keptId)).text()).toBe(this.keptBytes);
    expect((await raw(this.api.url, '/health')).status).toBe(200);
  }
}
