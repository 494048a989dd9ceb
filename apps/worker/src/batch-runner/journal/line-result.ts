import type { LineOutcome } from '@app/core';
import type { TokenUsage } from '../usage';

/** One answered input line, as the journal records it. */
export interface LineResult {
  lineNumber: number;
  outcome: LineOutcome;
  /** The line as it will stand in the output or error file, without its newline. */
  line: string;
  usage: TokenUsage;
}
