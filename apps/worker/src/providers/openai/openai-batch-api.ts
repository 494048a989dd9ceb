import { Readable } from 'node:stream';
import { MAX_BATCH_LINE_BYTES, randomBase62, readLinePages } from '@app/core';
import type { OutgoingLine, ProviderBatchApi, ProviderBatchView, ProviderSubmission } from '../provider-batch-api';
import { ProviderAwayError, type ProviderHttp, ProviderRefusedError } from '../provider-http';
import { type ProviderLine, providerCustomId } from '../provider-line';
import { resultLineOf } from './openai-result-line';

interface OpenAiBatch {
  id: string;
  status: string;
  created_at: number;
  output_file_id: string | null;
  error_file_id: string | null;
  errors: { data?: { code?: string | null; message?: string }[] } | null;
  request_counts: { total: number; completed: number; failed: number } | null;
  metadata: Record<string, string> | null;
}

interface ProviderFile {
  id: string;
  filename: string;
  created_at: number;
}

interface ProviderList {
  data?: unknown[];
  has_more?: boolean;
}

const UPLOAD_PIECE_CHARS = 64 * 1024;
const ENDED = new Set(['completed', 'failed', 'expired', 'cancelled']);
/** How far back, before a stage's intent was recorded, a crash recovery looks for the batch it may have created. */
const CLOCK_SKEW_SECONDS = 300;

/**
 * A batch as OpenAI writes it, from what a copy of its API answers. Together wraps a created batch in `job`, writes
 * its statuses in capitals and its times as ISO strings, counts no requests (a `progress` percentage instead), and lists
 * batches as a bare array.
 */
function batchOf(answer: unknown): OpenAiBatch {
  const batch = ((answer as { job?: unknown } | null)?.job ?? answer) as Omit<OpenAiBatch, 'created_at'> & {
    created_at: number | string;
  };
  return {
    ...batch,
    status: String(batch.status).toLowerCase(),
    errors: batch.errors ?? null,
    request_counts: batch.request_counts ?? null,
    metadata: batch.metadata ?? null,
    created_at: typeof batch.created_at === 'string' ? Date.parse(batch.created_at) / 1000 : batch.created_at,
  };
}

/**
 * OpenAI's Batch API (and the providers that copy it: Azure OpenAI, Groq, Together, another Venna): the stage's
 * lines go up as a JSONL file (streamed), become a batch with metadata naming our batch, shard and stage, and
 * come back as output and error files.
 */
export class OpenAiBatchApi implements ProviderBatchApi {
  constructor(private readonly http: ProviderHttp) {}

  async submit(submission: ProviderSubmission): Promise<string> {
    const fileId = submission.fileId ?? (await this.uploadedEarlier(submission)) ?? (await this.upload(submission));
    if (fileId !== submission.fileId) {
      await submission.onFileUploaded(fileId);
    }
    const batch = batchOf(
      await this.http.json('POST', '/batches', {
        input_file_id: fileId,
        endpoint: submission.endpoint,
        completion_window: submission.completionWindow,
        metadata: metadataOf(submission.tag),
      }),
    );
    if (typeof batch.id !== 'string' || batch.id === '') {
      // Created, perhaps, but unnamed: the next turn looks for it by its metadata before creating again.
      throw new ProviderAwayError('The provider answered a batch create without a batch id');
    }
    return batch.id;
  }

  async find(submission: ProviderSubmission, since: Date): Promise<string | null> {
    const wanted = metadataOf(submission.tag);
    const oldest = since.getTime() / 1000 - CLOCK_SKEW_SECONDS;
    // One turned down for quota is not the stage's: it was sent back, and a newer one may be on its way.
    const found = await this.newestSince(
      '/batches?limit=100',
      oldest,
      batchOf,
      (batch) =>
        !turnedDownForQuota(batch) && Object.entries(wanted).every(([key, value]) => batch.metadata?.[key] === value),
    );
    return found?.id ?? null;
  }

  async retrieve(id: string): Promise<ProviderBatchView> {
    const batch = batchOf(await this.http.json('GET', `/batches/${encodeURIComponent(id)}`));
    const failed =
      batch.status === 'failed'
        ? {
            message: batch.errors?.data?.[0]?.message ?? 'The provider failed the batch.',
            quotaFull: turnedDownForQuota(batch),
          }
        : null;
    return {
      id: batch.id,
      status: batch.status,
      ended: ENDED.has(batch.status),
      finishing: !ENDED.has(batch.status) && (batch.status === 'finalizing' || allCounted(batch.request_counts)),
      failed,
      completed: batch.request_counts?.completed ?? 0,
      failedLines: batch.request_counts?.failed ?? 0,
      results: { outputFileId: batch.output_file_id, errorFileId: batch.error_file_id },
    };
  }

  async *results(view: ProviderBatchView): AsyncIterable<ProviderLine[]> {
    for (const fileId of [view.results.outputFileId, view.results.errorFileId]) {
      if (!fileId) {
        continue;
      }
      const content = await this.http.stream(`/files/${encodeURIComponent(fileId)}/content`);
      for await (const page of readLinePages(content, MAX_BATCH_LINE_BYTES)) {
        const lines: ProviderLine[] = [];
        for (const line of page) {
          const parsed = resultLineOf(line.bytes);
          if (parsed) {
            lines.push(parsed);
          }
        }
        yield lines;
      }
    }
  }

  async cancel(id: string): Promise<void> {
    await this.http.json('POST', `/batches/${encodeURIComponent(id)}/cancel`);
  }

  async discard(view: ProviderBatchView | null, inputFileId: string | null): Promise<void> {
    for (const fileId of [inputFileId, view?.results.outputFileId, view?.results.errorFileId]) {
      if (fileId) {
        await this.deleteFile(fileId);
      }
    }
  }

  /** A file already gone (an earlier run deleted it before it was cut short) is as good as deleted. */
  private async deleteFile(fileId: string): Promise<void> {
    await this.http.json('DELETE', `/files/${encodeURIComponent(fileId)}`).catch((error: unknown) => {
      if (!(error instanceof ProviderRefusedError && error.statusCode === 404)) {
        throw error;
      }
    });
  }

  /**
   * The input file an earlier attempt uploaded without hearing back (its answer lost, or the worker killed before it
   * was recorded), found by its name among the files uploaded since: reused rather than left at the provider.
   */
  private async uploadedEarlier(submission: ProviderSubmission): Promise<string | null> {
    if (!submission.uploadedSince) {
      return null;
    }
    const wanted = fileNameOf(submission.tag);
    const oldest = submission.uploadedSince.getTime() / 1000 - CLOCK_SKEW_SECONDS;
    const found = await this.newestSince(
      '/files?purpose=batch&order=desc&limit=100',
      oldest,
      (file) => file as ProviderFile,
      (file) => file.filename === wanted && file.created_at >= oldest,
    );
    return found?.id ?? null;
  }

  /**
   * The first item of one of the provider's lists (newest first, a page at a time) that `wanted` accepts, looking no
   * further back than `oldest` (seconds). A list may come as `{data, has_more}` or, as Together's, a bare array.
   */
  private async newestSince<T extends { id: string; created_at: number }>(
    path: string,
    oldest: number,
    read: (item: unknown) => T,
    wanted: (item: T) => boolean,
  ): Promise<T | null> {
    let after: string | null = null;
    for (;;) {
      const page: ProviderList | unknown[] = await this.http.json<ProviderList | unknown[]>(
        'GET',
        `${path}${after ? `&after=${encodeURIComponent(after)}` : ''}`,
      );
      const items: T[] = (Array.isArray(page) ? page : (page.data ?? [])).map(read);
      const found = items.find(wanted);
      if (found) {
        return found;
      }
      const last = items.at(-1);
      if (Array.isArray(page) || page.has_more !== true || !last || last.created_at < oldest) {
        return null;
      }
      after = last.id;
    }
  }

  /** Streams the stage's lines up as a multipart form: never the whole file in memory. */
  private async upload(submission: ProviderSubmission): Promise<string> {
    const boundary = `venna-${randomBase62(24)}`;
    const filename = fileNameOf(submission.tag);
    async function* form(): AsyncGenerator<Buffer> {
      yield Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
          `Content-Type: application/jsonl\r\n\r\n`,
      );
      // Lines go out in pieces of about 64 KiB: a write per line costs more than the line itself.
      let piece = '';
      for await (const line of submission.lines()) {
        piece += `${providerLineOf(line)}\n`;
        if (piece.length >= UPLOAD_PIECE_CHARS) {
          yield Buffer.from(piece);
          piece = '';
        }
      }
      yield Buffer.from(`${piece}\r\n--${boundary}--\r\n`);
    }
    const file = await this.http.json<{ id: string }>(
      'POST',
      '/files',
      Readable.from(form()),
      `multipart/form-data; boundary=${boundary}`,
    );
    return file.id;
  }
}

/**
 * Failed for the organisation's enqueued-token limit alone: nothing ran, and the quota frees up as other batches end.
 * A batch its validation also failed would fail again.
 */
function turnedDownForQuota(batch: OpenAiBatch): boolean {
  const errors = batch.errors?.data ?? [];
  return (
    batch.status === 'failed' && errors.length > 0 && errors.every((error) => error.code === 'token_limit_exceeded')
  );
}

const allCounted = (counts: OpenAiBatch['request_counts']): boolean =>
  counts !== null && counts.total > 0 && counts.completed + counts.failed >= counts.total;

/** The name a stage's input file has at the provider: how a recovery recognises it. */
const fileNameOf = ({ batchId, shard, stage }: ProviderSubmission['tag']): string =>
  `${batchId}-shard-${shard}-stage-${stage}.jsonl`;

const metadataOf = (tag: ProviderSubmission['tag']): Record<string, string> => ({
  venna_batch_id: tag.batchId,
  venna_shard: String(tag.shard),
  venna_stage: String(tag.stage),
});

/** Our line as the provider gets it: our line number as its custom_id, the body as the user wrote it. */
const providerLineOf = ({ lineNumber, request }: OutgoingLine): string =>
  JSON.stringify({ custom_id: providerCustomId(lineNumber), method: 'POST', url: request.url, body: request.body });
