import { Readable } from 'node:stream';
import fc from 'fast-check';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newBatchId, newWorkspaceId, type ResultFile, ResultJournalRepository, ResultSequenceBuilder } from '@app/core';
import { migratedDataSource } from '../support/database';

/** One line as the finalizer writes it: to which file, and the journal sequence it was recorded with (if any). */
interface Written {
  file: ResultFile;
  journaled: boolean;
}

/**
 * A batch's result lines in input order, and the commit order of the journaled ones: a permutation of them, with
 * gaps where a re-sent line took a sequence and recorded nothing.
 */
const batchResults = fc
  .array(fc.record({ file: fc.constantFrom<ResultFile>('output', 'error'), journaled: fc.boolean() }), {
    maxLength: 40,
  })
  .chain((lines) => {
    const journaled = lines.flatMap((line, i) => (line.journaled ? [i] : []));
    return fc.record({
      lines: fc.constant<Written[]>(lines),
      commitOrder: fc.shuffledSubarray(journaled, { minLength: journaled.length, maxLength: journaled.length }),
      gaps: fc.array(fc.nat(2), { minLength: journaled.length, maxLength: journaled.length }),
      limits: fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 5 }),
      resumeAt: fc.nat(),
    });
  });

const text = (i: number, file: ResultFile) => `{"line":${i},"file":"${file}"}`;
const fileOf = (lines: Written[], file: ResultFile) =>
  Readable.from(
    lines
      .map((line, i) => (line.file === file ? `${text(i, file)}\n` : ''))
      .filter(Boolean)
      .map((line) => Buffer.from(line)),
  );

/**
 * The order of a batch's result lines, written with the files by the finalizer and read back by `/results` through
 * the one repository that owns it: a reader resuming from any journal cursor gets every line it has not seen
 * exactly once, a page at a time, pages in sequence order, the lines not executed after every journaled one.
 */
describe('Result sequence: write, then read', () => {
  let dataSource: DataSource;
  let journal: ResultJournalRepository;
  let batchId: string;

  beforeAll(async () => {
    dataSource = await migratedDataSource(2);
    journal = new ResultJournalRepository(dataSource);
    const workspaceId = newWorkspaceId();
    batchId = newBatchId();
    await dataSource.query(`INSERT INTO workspaces (id, name) VALUES ($1, $1)`, [workspaceId]);
    await dataSource.query(
      `INSERT INTO batches (id, workspace_id, endpoint, input_file_id, completion_window, status, expires_at)
       VALUES ($1, $2, '/v1/chat/completions', 'file-x', '24h', 'completed', clock_timestamp())`,
      [batchId, workspaceId],
    );
  });
  afterAll(() => dataSource?.destroy());

  it('hands every line above the cursor over once, in pages of at most the limit, in sequence order', async () => {
    await fc.assert(
      fc.asyncProperty(batchResults, async ({ lines, commitOrder, gaps, limits, resumeAt }) => {
        const recorded = new Map<number, number>();
        let next = 0;
        commitOrder.forEach((line, k) => {
          next += 1 + gaps[k];
          recorded.set(line, next);
        });
        const builder = new ResultSequenceBuilder();
        lines.forEach((line, i) => builder.add(line.file, recorded.get(i) ?? null));
        await dataSource.transaction((tx) => journal.keepResultSequence(batchId, builder.build(), tx));

        // A reader that saw the journal up to some sequence the journal handed out, then the batch ended.
        const cursor = next === 0 ? 0 : resumeAt % (next + 1);
        /** Journaled lines in commit order, then the lines not executed in input order. */
        const rank = (i: number) => recorded.get(i) ?? next + 1 + i;
        const expected = lines.flatMap((_, i) => (recorded.has(i) && rank(i) <= cursor ? [] : [i]));

        const sequence = await journal.resultSequence(batchId);
        const pages: number[][] = [];
        for (let after = cursor, p = 0; ; p++) {
          const limit = limits[p % limits.length];
          const page = sequence.page(after, limit);
          const served: number[] = [];
          for await (const line of sequence.lines(page, fileOf(lines, 'output'), fileOf(lines, 'error'))) {
            const { line: i, file } = JSON.parse(line.toString()) as { line: number; file: ResultFile };
            expect(file).toBe(lines[i].file);
            served.push(i);
          }
          expect(served.length).toBeLessThanOrEqual(limit);
          // Within a page the lines come as the files hold them: input order.
          expect(served).toEqual([...served].sort((a, b) => a - b));
          if (page.complete) {
            pages.push(served);
            expect(sequence.page(page.upTo, limit).upTo).toBe(page.upTo);
            break;
          }
          expect(served.length).toBeGreaterThan(0);
          pages.push(served);
          after = page.upTo;
        }

        expect(pages.flat().sort((a, b) => a - b)).toEqual(expected);
        for (let p = 1; p < pages.length; p++) {
          if (pages[p].length > 0) {
            expect(Math.max(...pages[p - 1].map(rank))).toBeLessThan(Math.min(...pages[p].map(rank)));
          }
        }
      }),
      { numRuns: 100 },
    );
  });
});
