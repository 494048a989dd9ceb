import type { UpstreamOutcome } from '../upstream/upstream.client';

/**
 * What a provider's batch says of one of our lines: an answer to keep (a success, or a failure with its
 * status or error code), or that the provider never ran it because its batch was cancelled or expired.
 */
export type ProviderLine =
  | { kind: 'answered'; lineNumber: number; outcome: UpstreamOutcome }
  | { kind: 'cancelled'; lineNumber: number }
  | { kind: 'expired'; lineNumber: number };

/** The id a provider sees for line `n` of our input: any provider accepts it (Anthropic: ^[a-zA-Z0-9_-]{1,64}$). */
export const providerCustomId = (lineNumber: number): string => `line-${lineNumber}`;

/** The line number behind a provider custom id, or null for an id we did not send. */
export function lineNumberOf(customId: unknown): number | null {
  const match = typeof customId === 'string' ? /^line-([1-9]\d{0,9})$/.exec(customId) : null;
  return match ? Number(match[1]) : null;
}
