import type { IncomingMessage, ServerResponse } from 'node:http';
import type { json } from 'express';
import { AppError, ErrorCode, jsonDepthExceeds, MAX_JSON_DEPTH } from '@app/core';

/**
 * The JSON body parser's `verify` hook: refuses a body nested deeper than MAX_JSON_DEPTH before it is parsed, on
 * every route. JSON.parse would take 30,000 levels, but validating, fingerprinting (Idempotency-Key) or serialising
 * what it built recurses and overflows the stack: a 500 instead of a 400.
 */
export function refuseDeepJson(_request: IncomingMessage, _response: ServerResponse, body: Buffer, charset: string) {
  if (jsonDepthExceeds(utf8Of(body, charset), MAX_JSON_DEPTH)) {
    throw new AppError(
      ErrorCode.InvalidRequest,
      `The JSON body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels, the most a request may have.`,
    );
  }
}

/**
 * The options of the api's JSON body parser. Nest's type of `useBodyParser` leaves `verify` out because Nest sets it
 * itself for `rawBody`, which the api does not use: Nest passes these options to express.json() as they are.
 */
export const jsonBodyOptions: NonNullable<Parameters<typeof json>[0]> = { verify: refuseDeepJson };

/** The scan reads UTF-8 bytes; the parser also takes UTF-16 (a `charset` parameter), which is re-encoded first. */
function utf8Of(body: Buffer, charset: string): Uint8Array {
  return charset === 'utf-8' ? body : Buffer.from(decoderOf(charset).decode(body));
}

function decoderOf(charset: string) {
  try {
    return new TextDecoder(charset);
  } catch {
    throw new AppError(ErrorCode.InvalidRequest, `Unsupported charset "${charset}": send JSON as UTF-8.`);
  }
}
