import { describe, expect, it } from 'vitest';
import { AppError, ErrorCode, StorageUnavailableError } from '@app/core';
import { multipartError } from './multipart-error';

const rules = { field: 'file', maxBytes: 10 };

describe('multipartError', () => {
  it('passes an outage through for the exception filter to answer 503, also one without an errno code', () => {
    const outages = [
      new StorageUnavailableError('Object store answered 503: Please reduce your request rate.', undefined),
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }),
    ];
    for (const outage of outages) {
      expect(multipartError(outage, rules)).toBe(outage);
    }
  });

  it("turns busboy's parse errors into a 400 naming the form", () => {
    const answer = multipartError(new Error('Unexpected end of form'), rules);
    expect(answer).toBeInstanceOf(AppError);
    expect(answer).toMatchObject({
      code: ErrorCode.InvalidRequest,
      message: 'Invalid multipart form: Unexpected end of form.',
    });
  });
});
