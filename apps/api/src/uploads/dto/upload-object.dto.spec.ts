import { describe, expect, it } from 'vitest';
import type { UploadEntity, UploadStatus } from '@app/core';
import { UploadObjectDto } from './upload-object.dto';

const upload = (status: UploadStatus, expiresInSeconds: number): UploadEntity => ({
  id: 'upload_a',
  workspaceId: 'ws_a',
  purpose: 'batch',
  filename: 'a.jsonl',
  bytes: 10,
  mimeType: 'text/jsonl',
  fileTtlSeconds: null,
  status,
  fileId: null,
  assemblyId: null,
  createdAt: new Date(1_700_000_000_000),
  expiresAt: new Date(Date.now() + expiresInSeconds * 1000),
});

describe('UploadObjectDto', () => {
  it.each<[UploadStatus, number, string]>([
    ['pending', 60, 'pending'],
    // Past its hour it is expired for the client, whether or not the expire-uploads sweep has marked it yet.
    ['pending', -1, 'expired'],
    // A completion under way is ours, not OpenAI's: the client still sees pending, even past the hour.
    ['completing', 60, 'pending'],
    ['completing', -1, 'pending'],
    ['completed', -1, 'completed'],
    ['cancelled', 60, 'cancelled'],
    ['expired', -1, 'expired'],
  ])('shows %s (expiring in %i s) as %s', (status, expiresIn, shown) => {
    expect(UploadObjectDto.from(upload(status, expiresIn)).status).toBe(shown);
  });

  it('has the keys of the OpenAI Upload object, file null until completed', () => {
    expect(Object.keys(UploadObjectDto.from(upload('pending', 60)))).toEqual([
      'id',
      'object',
      'bytes',
      'created_at',
      'filename',
      'purpose',
      'status',
      'expires_at',
      'file',
    ]);
    expect(UploadObjectDto.from(upload('pending', 60))).toMatchObject({
      object: 'upload',
      created_at: 1_700_000_000,
      file: null,
    });
  });
});
