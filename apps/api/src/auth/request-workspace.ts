/** The workspace a request acts for, resolved from its API key. */
export interface RequestWorkspace {
  id: string;
  name: string;
}

declare module 'express' {
  interface Request {
    workspace?: RequestWorkspace;
    /** The id of the API key the request came with (what rate limits count by). */
    apiKeyId?: string;
  }
}
