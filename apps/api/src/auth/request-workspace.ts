/** The workspace a request acts for, resolved from its API key. */
export interface RequestWorkspace {
  id: string;
  name: string;
}

declare module 'express' {
  interface Request {
    workspace?: RequestWorkspace;
  }
}
