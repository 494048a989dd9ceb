import type { BatchRequestLine, StageKey } from '@app/core';
import type { ProviderLine } from './provider-line';

/** One of our lines on its way to a provider. */
export interface OutgoingLine {
  lineNumber: number;
  request: BatchRequestLine;
}

/** What a stage asks the provider to run, and how to recognise it again after a crash. */
export interface ProviderSubmission {
  endpoint: string;
  completionWindow: string;
  /** Our batch, shard and stage: sent as metadata where the provider keeps it, else in every custom_id. */
  tag: StageKey;
  requestCount: number;
  lines: () => AsyncIterable<OutgoingLine>;
  /** An input file uploaded by an earlier attempt (OpenAI protocol), reused instead of uploading again. */
  fileId: string | null;
  /**
   * Since when an earlier attempt may have uploaded the input file without hearing back (the stage's intent); null for
   * a stage's first attempt.
   */
  uploadedSince: Date | null;
  /** Called with the provider's input file id once uploaded, before the batch is created, so a crash can reuse it. */
  onFileUploaded: (fileId: string) => Promise<void>;
}

/** A provider batch as polled: whether it has ended, and the counts to mirror into ours meanwhile. */
export interface ProviderBatchView {
  id: string;
  /** The provider's own status word (`in_progress`, `ended`, `completed` …), kept for operators. */
  status: string;
  ended: boolean;
  /** Every line is answered (or the provider says it is finalizing): the batch should end soon. */
  finishing: boolean;
  /**
   * The whole batch failed at the provider: no line ran. `quotaFull`: it was turned down for a quota that frees up
   * as the provider's other batches end (OpenAI's `token_limit_exceeded`), so the same lines may be sent again later.
   */
  failed: { message: string; quotaFull: boolean } | null;
  completed: number;
  failedLines: number;
  /** Where the results are (files or a URL), as the protocol needs them. */
  results: { outputFileId?: string | null; errorFileId?: string | null; url?: string | null };
}

/**
 * A provider's own Batch API in one protocol: create a batch from our lines, find it again after a crash,
 * poll it, stream its results back as our lines, cancel it, and delete what it kept.
 * Failures throw ProviderAwayError (try again later) or ProviderRefusedError (the provider will not take it).
 */
export interface ProviderBatchApi {
  submit(submission: ProviderSubmission): Promise<string>;
  /**
   * The provider batch an earlier attempt of this stage created, or null (it never got there). A protocol that
   * recognises it by its look alone leaves out the ids `takenElsewhere` says another stage has recorded.
   */
  find(
    submission: ProviderSubmission,
    since: Date,
    takenElsewhere: (id: string) => Promise<boolean>,
  ): Promise<string | null>;
  retrieve(id: string): Promise<ProviderBatchView>;
  /** What the provider says of each of the stage's lines, a page at a time as its results arrive. */
  results(view: ProviderBatchView, tag: StageKey): AsyncIterable<ProviderLine[]>;
  cancel(id: string): Promise<void>;
  /**
   * Deletes the provider's copies once ours are kept: the input, output and error files, or the batch. Without a
   * view (a stage that never became a provider batch), only its input file.
   */
  discard(view: ProviderBatchView | null, inputFileId: string | null): Promise<void>;
}
