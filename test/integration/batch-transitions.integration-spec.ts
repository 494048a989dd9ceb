import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchEntity, type BatchStatus, BatchTransitions, newBatchId, newWorkspaceId } from '@app/core';
import { migratedDataSource } from '../support/database';

/** Guarded transitions on the real PostgreSQL, under concurrency: one winner, never backwards. */
describe('BatchTransitions', () => {
  let dataSource: DataSource;
  let transitions: BatchTransitions;
  let workspaceId: string;

  beforeAll(async () => {
    dataSource = await migratedDataSource(20);
    transitions = new BatchTransitions(dataSource);
    workspaceId = newWorkspaceId();
    await dataSource.query(`INSERT INTO workspaces (id, name) VALUES ($1, $1)`, [workspaceId]);
  });
  afterAll(() => dataSource?.destroy());

  async function newBatch(): Promise<string> {
    const id = newBatchId();
    await dataSource.query(
      `INSERT INTO batches (id, workspace_id, endpoint, input_file_id, completion_window, status, expires_at)
       VALUES ($1, $2, '/v1/chat/completions', 'file-x', '24h', 'validating', clock_timestamp() + interval '1 day')`,
      [id, workspaceId],
    );
    return id;
  }
  const load = (id: string) => dataSource.getRepository(BatchEntity).findOneByOrFail({ id });
  const race = (id: string, targets: Exclude<BatchStatus, 'validating'>[]) =>
    Promise.all(targets.map((to) => transitions.move(id, to)));

  it('lets exactly one of many concurrent identical moves apply, stamping its time once', async () => {
    const id = await newBatch();
    const results = await race(id, Array(12).fill('in_progress'));
    expect(results.filter(Boolean)).toHaveLength(1);
    const batch = await load(id);
    expect(batch.status).toBe('in_progress');
    expect(batch.inProgressAt).toBeInstanceOf(Date);
  });

  it('lets a cancel and a finalize race: one wins, the loser changes nothing', async () => {
    for (let round = 0; round < 5; round++) {
      const id = await newBatch();
      await transitions.move(id, 'in_progress');
      const results = await race(id, ['cancelling', 'finalizing', 'cancelling', 'finalizing', 'expired']);
      expect(results.filter(Boolean)).toHaveLength(1);
      const batch = await load(id);
      const stamped = [batch.cancellingAt, batch.finalizingAt, batch.expiredAt].filter(Boolean);
      expect(stamped).toHaveLength(1);
    }
  });

  it('never moves a batch backwards or out of a terminal status', async () => {
    const id = await newBatch();
    expect(await transitions.move(id, 'in_progress')).toBe(true);
    expect(await transitions.move(id, 'finalizing')).toBe(true);
    expect(await race(id, ['in_progress', 'cancelling', 'expired'])).toEqual([false, false, false]);
    expect(await transitions.move(id, 'completed', { outputFileId: 'file-out' })).toBe(true);
    const after = await race(id, [
      'in_progress',
      'finalizing',
      'failed',
      'cancelling',
      'cancelled',
      'expired',
      'completed',
    ]);
    expect(after.every((applied) => !applied)).toBe(true);
    const batch = await load(id);
    expect(batch.status).toBe('completed');
    expect(batch.outputFileId).toBe('file-out');
  });
});
