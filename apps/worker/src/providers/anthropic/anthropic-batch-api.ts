import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { MAX_BATCH_LINE_BYTES, readLinePages, type StageKey } from '@app/core';
import type { ProviderBatchApi, ProviderBatchView, ProviderSubmission } from '../provider-batch-api';
import { ProviderAwayError, type ProviderHttp } from '../provider-http';
import { lineNumberOf, type ProviderLine, providerCustomId } from '../provider-line';
import { type AnthropicResult, fromMessageResult, toMessagesParams } from './messages-translation';

interface MessageBatch {
  id: string;
  processing_status: 'in_progress' | 'canceling' | 'ended';
  request_counts: { processing: number; succeeded: number; errored: number; canceled: number; expired: number };
  created_at: string;
  results_url: string | null;
}

const UPLOAD_PIECE_CHARS = 64 * 1024;
/** How far back, before a stage's intent was recorded, a crash recovery looks for the batch it may have created. */
const CLOCK_SKEW_MS = 60_000;
/**
 * How long after a stage's intent several Message Batches that could be its own are waited on (the other stages that
 * created them record theirs meanwhile) before it takes none and creates its own.
 */
const AMBIGUITY_WAIT_MS = 10 * 60_000;

/**
 * What the custom_ids of a stage's requests start with. Message Batches keep no metadata, so a crash recovery can
 * only guess which batch was its own; with the stage in every id, a guess that took another stage's Message Batch
 * copies none of its answers (16 base64url characters of a hash, within Anthropic's ^[a-zA-Z0-9_-]{1,64}$).
 */
const stageMark = (tag: StageKey): string =>
  createHash('sha256').update(`${tag.batchId}/${tag.shard}/${tag.stage}`).digest('base64url').slice(0, 16);

/**
 * Anthropic's Message Batches: the stage's chat completions go inline as Messages params (the request body is
 * streamed), and results come back as one JSONL stream in any order, turned into chat.completion bodies.
 */
export class AnthropicBatchApi implements ProviderBatchApi {
  constructor(
    private readonly http: ProviderHttp,
    private readonly defaultMaxTokens: number,
  ) {}

  async submit(submission: ProviderSubmission): Promise<string> {
    const defaultMaxTokens = this.defaultMaxTokens;
    const mark = stageMark(submission.tag);
    async function* body(): AsyncGenerator<Buffer> {
      // Requests go out in pieces of about 64 KiB: a write per request costs more than the request itself.
      let piece = '{"requests":[';
      let first = true;
      for await (const { lineNumber, request } of submission.lines()) {
        const params = JSON.stringify(toMessagesParams(request.body, defaultMaxTokens));
        piece += `${first ? '' : ','}{"custom_id":"${mark}-${providerCustomId(lineNumber)}","params":${params}}`;
        first = false;
        if (piece.length >= UPLOAD_PIECE_CHARS) {
          yield Buffer.from(piece);
          piece = '';
        }
      }
      yield Buffer.from(`${piece}]}`);
    }
    const batch = await this.http.json<MessageBatch>('POST', '/messages/batches', Readable.from(body()));
    return batch.id;
  }

  /**
   * Message Batches keep no metadata: an earlier attempt's batch is recognised by its size and by having been
   * created since the attempt recorded its intent, leaving out those another stage has recorded. Only a single
   * such batch is taken as ours. Several are waited on (the provider counts as away) for a while after the intent:
   * creating another then would leave the one that is ours running, untracked.
   */
  async find(
    submission: ProviderSubmission,
    since: Date,
    takenElsewhere: (id: string) => Promise<boolean>,
  ): Promise<string | null> {
    const oldest = since.getTime() - CLOCK_SKEW_MS;
    const candidates: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: { data: MessageBatch[]; has_more: boolean; last_id: string | null } = await this.http.json(
        'GET',
        `/messages/batches?limit=100${after ? `&after_id=${encodeURIComponent(after)}` : ''}`,
      );
      for (const batch of page.data) {
        const counts = batch.request_counts;
        const size = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired;
        if (
          Date.parse(batch.created_at) >= oldest &&
          size === submission.requestCount &&
          !(await takenElsewhere(batch.id))
        ) {
          candidates.push(batch.id);
        }
      }
      const last = page.data.at(-1);
      if (!page.has_more || !last || Date.parse(last.created_at) < oldest) {
        if (candidates.length > 1 && Date.now() - since.getTime() < AMBIGUITY_WAIT_MS) {
          throw new ProviderAwayError(
            `${candidates.length} Message Batches of ${submission.requestCount} requests could be this stage's`,
          );
        }
        return candidates.length === 1 ? candidates[0] : null;
      }
      after = page.last_id ?? last.id;
    }
  }

  async retrieve(id: string): Promise<ProviderBatchView> {
    const batch = await this.http.json<MessageBatch>('GET', `/messages/batches/${encodeURIComponent(id)}`);
    const counts = batch.request_counts;
    return {
      id: batch.id,
      status: batch.processing_status,
      ended: batch.processing_status === 'ended',
      finishing: batch.processing_status !== 'ended' && counts.processing === 0,
      failed: null,
      completed: counts.succeeded,
      failedLines: counts.errored + counts.expired,
      results: { url: batch.results_url },
    };
  }

  async *results(view: ProviderBatchView, tag: StageKey): AsyncIterable<ProviderLine[]> {
    if (!view.results.url) {
      return;
    }
    const mark = `${stageMark(tag)}-`;
    const content = await this.http.stream(view.results.url);
    for await (const page of readLinePages(content, MAX_BATCH_LINE_BYTES)) {
      const lines: ProviderLine[] = [];
      for (const line of page) {
        const said = providerLineOf(line.bytes.toString('utf8'), view.id, mark);
        if (said) {
          lines.push(said);
        }
      }
      yield lines;
    }
  }

  async cancel(id: string): Promise<void> {
    await this.http.json('POST', `/messages/batches/${encodeURIComponent(id)}/cancel`);
  }

  /** Requests go inline: without a Message Batch, a stage left nothing here. */
  async discard(view: ProviderBatchView | null): Promise<void> {
    if (view) {
      await this.http.json('DELETE', `/messages/batches/${encodeURIComponent(view.id)}`);
    }
  }
}

/**
 * What one line of the results says of our line; null for a blank line or one that is not a result of this stage
 * (its custom_id lacks the stage's mark).
 */
function providerLineOf(text: string, providerBatchId: string, mark: string): ProviderLine | null {
  const result = text.trim() === '' ? null : resultOf(text);
  const lineNumber = result?.customId.startsWith(mark) ? lineNumberOf(result.customId.slice(mark.length)) : null;
  if (!result || lineNumber === null) {
    return null;
  }
  switch (result.kind) {
    case 'succeeded':
      return {
        kind: 'answered',
        lineNumber,
        outcome: {
          kind: 'response',
          statusCode: 200,
          requestId: result.requestId,
          body: result.body,
          json: null,
          attempts: 1,
        },
      };
    case 'errored':
      return {
        kind: 'answered',
        lineNumber,
        outcome: {
          kind: 'response',
          statusCode: result.statusCode,
          requestId: `req_${providerBatchId}_${lineNumber}`,
          body: result.body,
          json: null,
          attempts: 1,
        },
      };
    case 'canceled':
      return { kind: 'cancelled', lineNumber };
    case 'expired':
      return { kind: 'expired', lineNumber };
  }
}

/** One line of the results as Anthropic's result, or null for a line that is not one (it is passed over). */
function resultOf(text: string): AnthropicResult | null {
  try {
    return fromMessageResult(JSON.parse(text));
  } catch {
    return null;
  }
}
