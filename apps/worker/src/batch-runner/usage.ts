export interface TokenUsage {
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  reasoningTokens: number;
}

export const NO_USAGE: TokenUsage = { inputTokens: 0, cachedTokens: 0, outputTokens: 0, reasoningTokens: 0 };

const count = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;

/**
 * Token usage from an upstream response body, whichever naming it uses: chat/completions/embeddings
 * (prompt_/completion_tokens), or responses and images (input_/output_tokens; an images answer counts its text
 * and image input tokens together in input_tokens). A video object carries no usage (it is billed by the
 * second, which the token ledger does not hold): none is counted. Moderations carry none either.
 */
export function usageOf(body: unknown): TokenUsage {
  const usage = (body as { usage?: Record<string, unknown> } | null)?.usage;
  if (!usage || typeof usage !== 'object') {
    return NO_USAGE;
  }
  const details = (key: string, field: string) => count((usage[key] as Record<string, unknown> | undefined)?.[field]);
  return {
    inputTokens: count(usage.input_tokens ?? usage.prompt_tokens),
    cachedTokens: details('input_tokens_details', 'cached_tokens') || details('prompt_tokens_details', 'cached_tokens'),
    outputTokens: count(usage.output_tokens ?? usage.completion_tokens),
    reasoningTokens:
      details('output_tokens_details', 'reasoning_tokens') || details('completion_tokens_details', 'reasoning_tokens'),
  };
}
