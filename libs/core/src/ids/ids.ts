import { randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Uniform random base62 string (rejection sampling keeps every character equally likely). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) {
        out += BASE62[byte % 62];
      }
    }
  }
  return out;
}

export const newFileId = (): string => `file-${randomBase62(24)}`;
export const newBatchId = (): string => `batch_${randomBase62(24)}`;
export const newBatchRequestId = (): string => `batch_req_${randomBase62(24)}`;
export const newWorkspaceId = (): string => `ws_${randomBase62(24)}`;
export const newApiKeyId = (): string => `key_${randomBase62(24)}`;
export const newApiKeySecret = (): string => `vk_${randomBase62(40)}`;
