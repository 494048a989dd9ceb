import { createHash } from 'node:crypto';
import type { Request } from 'express';

/** What a multipart upload contributes to the fingerprint: its bytes (hashed while they streamed) and name. */
export interface FingerprintedUpload {
  originalname: string;
  sha256: string;
}

/** JSON with object keys sorted at every depth: equal requests serialise equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([name, item]) => `${JSON.stringify(name)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * SHA-256 of the request as it was sent, before any pipe reshaped it: method, path, the body (JSON, or the
 * form fields of a multipart upload such as `purpose` and `expires_after`) and, for an upload, the file's
 * bytes and name.
 */
export function requestFingerprint(request: Request, upload: FingerprintedUpload | undefined): string {
  const file = upload ? { filename: upload.originalname, sha256: upload.sha256 } : null;
  const body: unknown = request.body ?? null;
  return createHash('sha256')
    .update(canonicalJson({ method: request.method, path: request.path, body, file }))
    .digest('hex');
}
