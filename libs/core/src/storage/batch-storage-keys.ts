/** Where a batch's working objects live in storage: everything under one prefix per batch. */
export interface BatchKeyOwner {
  id: string;
  workspaceId: string;
}

export const batchStoragePrefix = (batch: BatchKeyOwner): string => `${batch.workspaceId}/batches/${batch.id}`;

/** One journal segment: the result lines of one recorded group. */
export const segmentKey = (batch: BatchKeyOwner, segment: string): string =>
  `${batchStoragePrefix(batch)}/journal/${segment}.jsonl`;

/** An output or error file, unique to the finalize attempt that writes it. */
export const resultFileKey = (batch: BatchKeyOwner, kind: 'output' | 'error', attempt: string): string =>
  `${batchStoragePrefix(batch)}/results/${kind}-${attempt}.jsonl`;
