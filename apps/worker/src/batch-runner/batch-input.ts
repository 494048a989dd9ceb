import { BatchInputCheck, type BatchErrorItem, type ChunkRange, checkedRequests, type RawLine } from '@app/core';

export interface InputRules {
  endpoint: string;
  maxRequests: number;
  chunkSize: number;
}

export interface InputPlan {
  model: string | null;
  total: number;
  chunks: ChunkRange[];
  errors: BatchErrorItem[];
}

/**
 * Reads the whole input once: checks every line (collecting up to 100 problems, each with its line),
 * finds the batch's single model, and cuts the lines into chunks located by byte range.
 */
export async function planInput(lines: AsyncIterable<RawLine>, rules: InputRules): Promise<InputPlan> {
  const check = new BatchInputCheck();
  const chunks: ChunkRange[] = [];
  let open: ChunkRange | null = null;
  for await (const { line } of checkedRequests(lines, { ...rules, oneModel: true }, check)) {
    if (!open || open.lineCount >= rules.chunkSize) {
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
