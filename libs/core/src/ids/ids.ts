import { randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Random bytes drawn in blocks: ids are made per answer, and one system call each would show in profiles. */
const POOL_BYTES = 4096;
let pool = randomBytes(POOL_BYTES);
let poolOffset = 0;

function nextRandomByte(): number {
  if (poolOffset >= POOL_BYTES) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  return pool[poolOffset++];
}

/** Uniform random base62 string (rejection sampling keeps every character equally likely). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    const byte = nextRandomByte();
    if (byte < 248) {
      out += BASE62[byte % 62];
    }
  }
  return out;
}

export const newFileId = (): string => `file-${randomBase62(24)}`;
export const newBatchId = (): string => `batch_${randomBase62(24)}`;
export const newBatchRequestId = (): string => `batch_req_${randomBase62(24)}`;
export const newUploadId = (): string => `upload_${randomBase62(24)}`;
export const newUploadPartId = (): string => `part_${randomBase62(24)}`;
export const newWorkspaceId = (): string => `ws_${randomBase62(24)}`;
export const newApiKeyId = (): string => `key_${randomBase62(24)}`;
export const newApiKeySecret = (): string => `vk_${randomBase62(40)}`;
export const newWebhookId = (): string => `wh_${randomBase62(24)}`;
export const newWebhookEventId = (): string => `evt_${randomBase62(24)}`;
export const newWebhookDeliveryId = (): string => `whdel_${randomBase62(24)}`;
/** A Standard Webhooks signing secret: `whsec_` and the base64 of 32 random bytes. */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;
