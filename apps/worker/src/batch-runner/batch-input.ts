import { BatchInputCheck, type BatchErrorItem, type ChunkRange, checkedRequests, type RawLine } from '@app/core';
import type { BatchRequestLine } from '@app/core';

/** How the lines of a batch are cut once its model (and so its upstream) is known, and what that upstream refuses. */
export interface InputCut {
  maxLines: number;
  /** A range stops before its lines (plus LINE_OVERHEAD_BYTES each) would pass this; unset = no byte cap. */
  maxBytes?: number;
  /** A problem this upstream has with a line the batch rules accept, or null. */
  refuse?: (request: BatchRequestLine, lineNumber: number) => BatchErrorItem | null;
}

export interface InputRules {
  endpoint: string;
  maxRequests: number;
  cutFor: (model: string) => InputCut;
}

export interface InputPlan {
  model: string | null;
  total: number;
  chunks: ChunkRange[];
  errors: BatchErrorItem[];
}

/** What a line may grow by on its way to a provider (our custom_id, the wrapping a protocol adds). */
const LINE_OVERHEAD_BYTES = 64;

/**
 * Reads the whole input once: checks every line (collecting up to 100 problems, each with its line),
 * finds the batch's single model, and cuts the lines into ranges located by byte range: chunks of
 * executed lines, or shards within a provider's caps.
 */
export async function planInput(lines: AsyncIterable<RawLine>, rules: InputRules): Promise<InputPlan> {
  const check = new BatchInputCheck();
  const chunks: ChunkRange[] = [];
  let cut: InputCut | null = null;
  let open: ChunkRange | null = null;
  for await (const { line, request } of checkedRequests(lines, { ...rules, oneModel: true }, check)) {
    cut ??= rules.cutFor(check.model as string);
    const problem = cut.refuse?.(request, line.number);
    if (problem) {
      check.report(problem);
      continue;
    }
    const bytes = line.end - line.start + LINE_OVERHEAD_BYTES;
    if (
      !open ||
      open.lineCount >= cut.maxLines ||
      (cut.maxBytes !== undefined &&
        open.endByte - open.startByte + open.lineCount * LINE_OVERHEAD_BYTES + bytes > cut.maxBytes)
    ) {
      open = {
        index: chunks.length,
        firstLine: line.number,
        lastLine: line.number,
        lineCount: 0,
        startByte: line.start,
        endByte: line.end,
      };
      chunks.push(open);
    }
    open.lineCount++;
    open.lastLine = line.number;
    open.endByte = line.end;
  }
  return { model: check.model, total: check.requestCount, chunks, errors: check.problems };
}
