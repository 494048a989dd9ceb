/** Purposes a client may upload with (OpenAI's CreateFileRequest.purpose). */
export const UPLOAD_PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'] as const;
export type UploadPurpose = (typeof UPLOAD_PURPOSES)[number];

/** Purposes a stored file may carry: uploads plus what the service writes itself. */
export const FILE_PURPOSES = [...UPLOAD_PURPOSES, 'batch_output'] as const;
export type FilePurpose = (typeof FILE_PURPOSES)[number];

export const BATCH_FILE_DEFAULT_TTL_SECONDS = 30 * 24 * 3600;
export const FILE_TTL_MIN_SECONDS = 3600;
export const FILE_TTL_MAX_SECONDS = 30 * 24 * 3600;
