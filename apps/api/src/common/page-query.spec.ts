import 'reflect-metadata';
import { parse } from 'node:querystring';
import { describe, expect, it } from 'vitest';
import { AppError } from '@app/core';
import { ListBatchesQueryDto } from '../batches/dto/list-batches.query.dto';
import { ListFilesQueryDto } from '../files/dto/list-files.query.dto';
import { StorableTextPipe } from './storable-text.pipe';
import { openAIValidationPipe } from './validation.pipe';

const DTOS = { files: ListFilesQueryDto, batches: ListBatchesQueryDto };

/**
 * Raw query strings and what the api's global pipes (in main.ts's order) make of them: the query, or the 400's
 * message and param. Every expectation was recorded from the class-transformer + class-validator DTOs these
 * lists had before they read their own queries (query-params.ts); the first wrong parameter in the same order wins.
 */
// prettier-ignore
const CASES: [keyof typeof DTOS, string, Record<string, unknown>][] = [
  ["files", "", {"limit": 10000, "order": "desc"}],
  ["files", "limit=20", {"limit": 20, "order": "desc"}],
  ["files", "limit=0", {"error": "Invalid 'limit': expected an integer between 1 and 10000.", "param": "limit"}],
  ["files", "limit=1", {"limit": 1, "order": "desc"}],
  ["files", "limit=100", {"limit": 100, "order": "desc"}],
  ["files", "limit=101", {"limit": 101, "order": "desc"}],
  ["files", "limit=10000", {"limit": 10000, "order": "desc"}],
  ["files", "limit=10001", {"error": "Invalid 'limit': expected an integer between 1 and 10000.", "param": "limit"}],
  ["files", "limit=abc", {"error": "Invalid 'limit': expected an integer between 1 and 10000.", "param": "limit"}],
  ["files", "limit=", {"error": "Invalid 'limit': expected an integer between 1 and 10000.", "param": "limit"}],
  ["files", "limit=1.5", {"error": "Invalid 'limit': expected an integer between 1 and 10000.", "param": "limit"}],
  ["files", "limit=1e1", {"limit": 10, "order": "desc"}],
  ["files", "limit=%2020%20", {"limit": 20, "order": "desc"}],
  ["files", "limit=0x14", {"limit": 20, "order": "desc"}],
  ["files", "limit=-1", {"error": "Invalid 'limit': expected an integer between 1 and 10000.", "param": "limit"}],
  ["files", "limit=20&limit=30", {"error": "Invalid 'limit': expected an integer between 1 and 10000.", "param": "limit"}],
  ["files", "limit=Infinity", {"error": "Invalid 'limit': expected an integer between 1 and 10000.", "param": "limit"}],
  ["files", "limit=NaN", {"error": "Invalid 'limit': expected an integer between 1 and 10000.", "param": "limit"}],
  ["files", "limit=true", {"error": "Invalid 'limit': expected an integer between 1 and 10000.", "param": "limit"}],
  ["files", "after=file-abc", {"limit": 10000, "order": "desc", "after": "file-abc"}],
  ["files", "after=", {"limit": 10000, "order": "desc", "after": ""}],
  ["files", "after=a&after=b", {"error": "Invalid 'after': expected a file id.", "param": "after"}],
  ["files", "after=%00x", {"error": "Invalid 'after': it contains a NUL character.", "param": "after"}],
  ["files", "after=x&limit=0", {"error": "Invalid 'limit': expected an integer between 1 and 10000.", "param": "limit"}],
  ["files", "limit=0&after=a&after=b", {"error": "Invalid 'after': expected a file id.", "param": "after"}],
  ["files", "after=a&after=b&limit=0", {"error": "Invalid 'after': expected a file id.", "param": "after"}],
  ["files", "order=asc", {"limit": 10000, "order": "asc"}],
  ["files", "order=desc", {"limit": 10000, "order": "desc"}],
  ["files", "order=sideways", {"error": "Invalid 'order': 'sideways' is not one of ['asc', 'desc'].", "param": "order"}],
  ["files", "order=", {"error": "Invalid 'order': '' is not one of ['asc', 'desc'].", "param": "order"}],
  ["files", "order=asc&order=desc", {"error": "Invalid 'order': 'asc,desc' is not one of ['asc', 'desc'].", "param": "order"}],
  ["files", "order=ASC", {"error": "Invalid 'order': 'ASC' is not one of ['asc', 'desc'].", "param": "order"}],
  ["files", "purpose=batch", {"limit": 10000, "order": "desc", "purpose": "batch"}],
  ["files", "purpose=", {"limit": 10000, "order": "desc", "purpose": ""}],
  ["files", "purpose=a&purpose=b", {"error": "Invalid 'purpose': expected a string.", "param": "purpose"}],
  ["files", "purpose=%00", {"error": "Invalid 'purpose': it contains a NUL character.", "param": "purpose"}],
  ["files", "order=x&limit=0", {"error": "Invalid 'order': 'x' is not one of ['asc', 'desc'].", "param": "order"}],
  ["files", "limit=0&order=x", {"error": "Invalid 'order': 'x' is not one of ['asc', 'desc'].", "param": "order"}],
  ["files", "purpose=a&purpose=b&order=x", {"error": "Invalid 'purpose': expected a string.", "param": "purpose"}],
  ["files", "order=x&purpose=a&purpose=b", {"error": "Invalid 'purpose': expected a string.", "param": "purpose"}],
  ["files", "purpose=a&purpose=b&after=a&after=b", {"error": "Invalid 'purpose': expected a string.", "param": "purpose"}],
  ["files", "limit=0&purpose=a&purpose=b", {"error": "Invalid 'purpose': expected a string.", "param": "purpose"}],
  ["files", "foo=bar", {"limit": 10000, "order": "desc"}],
  ["files", "foo=%00", {"error": "Invalid 'foo': it contains a NUL character.", "param": "foo"}],
  ["files", "%00=1", {"error": "Invalid 'query': it contains a NUL character.", "param": null}],
  ["files", "limit=20&foo=1&order=asc&purpose=batch&after=file-1", {"limit": 20, "order": "asc", "purpose": "batch", "after": "file-1"}],
  ["files", "constructor=1", {"limit": 10000, "order": "desc"}],
  ["files", "__proto__=1", {"limit": 10000, "order": "desc"}],
  ["files", "toString=1", {"limit": 10000, "order": "desc"}],
  ["files", "hasOwnProperty=x", {"limit": 10000, "order": "desc"}],
  ["batches", "", {"limit": 20}],
  ["batches", "limit=0", {"error": "Invalid 'limit': expected an integer between 1 and 100.", "param": "limit"}],
  ["batches", "limit=100", {"limit": 100}],
  ["batches", "limit=101", {"error": "Invalid 'limit': expected an integer between 1 and 100.", "param": "limit"}],
  ["batches", "after=a&after=b", {"error": "Invalid 'after': expected a batch id.", "param": "after"}],
  ["batches", "after=%00x", {"error": "Invalid 'after': it contains a NUL character.", "param": "after"}],
  ["batches", "limit=0&after=a&after=b", {"error": "Invalid 'after': expected a batch id.", "param": "after"}],
  ["batches", "order=sideways", {"limit": 20}],
  ["batches", "purpose=a&purpose=b", {"limit": 20}],
  ["batches", "foo=%00", {"error": "Invalid 'foo': it contains a NUL character.", "param": "foo"}],
];

async function throughPipes(dto: (typeof DTOS)[keyof typeof DTOS], raw: string): Promise<Record<string, unknown>> {
  const metadata = { type: 'query' as const, metatype: dto, data: undefined };
  try {
    const value = new StorableTextPipe().transform(parse(raw), metadata);
    const query = (await openAIValidationPipe.transform(value, metadata)) as object;
    expect(query).toBeInstanceOf(dto);
    return JSON.parse(JSON.stringify(query)) as Record<string, unknown>;
  } catch (error) {
    if (!(error instanceof AppError)) {
      throw error;
    }
    return { error: error.message, param: error.param ?? null };
  }
}

describe('List query parameters', () => {
  it.each(CASES)('%s ?%s', async (list, raw, expected) => {
    expect(await throughPipes(DTOS[list], raw)).toEqual(expected);
  });
});
