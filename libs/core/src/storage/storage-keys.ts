/**
 * Every key an object is stored under, in one place: each workspace's objects under its own prefix, files under
 * `files/`, an upload's parts under `uploads/`, a batch's working objects under `batches/`.
 */

/** A file's bytes: what POST /v1/files stores, and what an upload's parts are joined into. */
export const fileStorageKey = (workspaceId: string, fileId: string): string => `${workspaceId}/files/${fileId}`;

/** Where the parts of an upload are stored as objects of their own (all parts on local disk, small ones on S3). */
export const uploadPartsPrefix = (workspaceId: string, uploadId: string): string =>
  `${workspaceId}/uploads/${uploadId}`;

/**
 * The object the store assembles an upload's parts into (an S3 multipart upload of this key): the completed
 * file itself when the parts were sent in the order named at completion, otherwise a source to join from.
 * A file key, so that the assembly joined in place is the file.
 */
export const uploadAssemblyKey = (workspaceId: string, uploadId: string): string =>
  fileStorageKey(workspaceId, uploadId);

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

/** The custom_ids of the lines a provider batch stage sent (named by its segment prefix), kept until the batch ends. */
export const stageCustomIdsKey = (batch: BatchKeyOwner, stagePrefix: string): string =>
  `${batchStoragePrefix(batch)}/journal/${stagePrefix}-custom-ids.json`;
