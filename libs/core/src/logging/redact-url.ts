const REDACTED = '[redacted]';

/**
 * A URL as it may be logged: without `user:password@`, with every query parameter's value replaced (keys such as
 * `?key=` or a signature travel there) and without the fragment. Only the names of the query parameters stay.
 */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return '[unparsable URL]';
  }
  const query = [...url.searchParams.keys()].map((name) => `${encodeURIComponent(name)}=${REDACTED}`).join('&');
  return `${url.protocol}//${url.host}${url.pathname}${query ? `?${query}` : ''}`;
}
