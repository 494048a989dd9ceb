import { DataSource, type EntityTarget, type ObjectLiteral } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatchEntity,
  FILE_WIRE,
  FileEntity,
  keysetPage,
  type Page,
  PreparedReads,
  type WireFields,
  type WireRow,
  type WireShape,
} from '@app/core';
import { BatchListDto, BatchObjectDto, BATCH_WIRE } from '../../apps/api/src/batches/dto/batch-object.dto';
import { FileListDto, FileObjectDto } from '../../apps/api/src/files/dto/file-object.dto';
import { migratedDataSource } from '../support/database';

const WORKSPACE = 'ws_wire_shape';

/** Names no upload form would carry but a stored file may: JSON escapes, controls, quotes, every plane. */
const FILENAMES = [
  'plain.jsonl',
  'quo"te\\back/slash.jsonl',
  'ctl\u0001\u001f\u007f\b\f\n\r\t.jsonl',
  'uni é ü 漢字 😀 \u2028\u2029.jsonl',
  "it's </script> $& $1 $$.jsonl",
  '',
];

/**
 * The polled reads send the JSON text PostgreSQL writes from FILE_WIRE and BATCH_WIRE; everything else sends
 * JSON.stringify of `XObjectDto.from(entity)` made from the same tables. Both must be the same bytes, for any
 * stored value: escapes, microseconds, nulls, jsonb key orders, tokens near 2^53.
 */
describe('Wire shapes: PostgreSQL writes what JSON.stringify writes', () => {
  let dataSource: DataSource;
  let reads: PreparedReads;

  beforeAll(async () => {
    dataSource = await migratedDataSource(2);
    reads = new PreparedReads(dataSource, { READ_COALESCING: true });
    await dataSource.query(`DELETE FROM batches WHERE workspace_id = $1`, [WORKSPACE]);
    await dataSource.query(`DELETE FROM files WHERE workspace_id = $1`, [WORKSPACE]);
    await dataSource.query(`INSERT INTO workspaces (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING`, [WORKSPACE]);
    for (const [i, filename] of FILENAMES.entries()) {
      await dataSource.query(
        `INSERT INTO files (id, workspace_id, purpose, filename, bytes, storage_key, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, 'k', '2026-12-03 10:00:00.999999+00'::timestamptz - make_interval(secs => $6::int),
                 CASE WHEN $6::int % 2 = 0 THEN NULL ELSE '2099-01-01 00:00:00.000001+00'::timestamptz END)`,
        [`file-wire-${i}`, WORKSPACE, i % 2 ? 'batch' : 'user_data', filename, i * 1_000_000_007, i],
      );
    }
    const batch = (id: string, values: string) =>
      dataSource.query(
        `INSERT INTO batches (id, workspace_id, endpoint, input_file_id, completion_window, status, expires_at, created_at,
                              model, errors, metadata, in_progress_at, completed_at, request_total, request_completed,
                              request_failed, input_tokens, output_tokens, cached_tokens, reasoning_tokens, retry_of)
         SELECT $1, $2, '/v1/chat/completions', 'file-wire-1', '24h', ${values}`,
        [id, WORKSPACE],
      );
    await batch(
      'batch_wire_empty',
      `'validating', '2026-12-04 10:00:00+00', '2026-12-03 09:00:00+00', NULL, NULL, '{}', NULL, NULL, 0, 0, 0, 0, 0, 0, 0, NULL`,
    );
    await batch(
      'batch_wire_full',
      `'completed', '2026-12-04 10:00:00.5+00', '2026-12-03 10:00:00.000001+00', 'gpt-"x"',
       '[{"code":"invalid_json","message":"Line 2: \\"bad\\"\\tjson","param":null,"line":2},{"code":"x","message":"ü","param":"body.model","line":null}]',
       '{"b":"x","1":"y","a\\"q":"new\\nline","10":"ten","2":"😀","z":"","4294967295":"big","01":"zero one"}',
       '2026-12-03 10:00:00.999999+00', '2026-12-03 10:00:01.000001+00', 7, 3, 4, 9007199254740000, 5, 2, 1,
       'batch_wire_empty'`,
    );
    await batch(
      'batch_wire_nulls',
      `'in_progress', '2026-12-04 10:00:00+00', '2026-12-03 08:00:00+00', NULL, '[]', NULL, NULL, NULL, 1, 0, 0, 0, 0, 0, 0, NULL`,
    );
  });
  afterAll(() => dataSource?.destroy());

  const request = (limit: number, direction: 'ASC' | 'DESC') => ({
    limit,
    direction,
    workspaceId: WORKSPACE,
    cursorExists: () => Promise.resolve(true),
    itemName: 'File',
  });

  /** A page read as entities and as PostgreSQL's JSON: each object and the list envelope, byte for byte. */
  async function expectSameBytes<E extends ObjectLiteral, D extends { id: string }>(
    shape: {
      entity: EntityTarget<E>;
      wire: WireShape<E, WireFields<E>>;
      toDto: (entity: E) => D;
      List: { of(data: D[], hasMore: boolean): unknown; json(page: Page<WireRow>): string };
    },
    pageRequest: ReturnType<typeof request>,
  ): Promise<Page<WireRow>> {
    const name = `test.wire.${String(shape.wire.entity.name)}`;
    const entities = await keysetPage(
      { source: reads.entitySource(shape.entity), name, filter: () => '', values: [], types: [] },
      pageRequest,
    );
    const wire = await keysetPage(
      { source: reads.wireSource(shape.wire), name: `${name}.json`, filter: () => '', values: [], types: [] },
      pageRequest,
    );
    const objects = entities.items.map((entity) => shape.toDto(entity));
    expect(wire.items.map((row) => row.json)).toEqual(objects.map((object) => JSON.stringify(object)));
    expect(shape.List.json(wire)).toBe(JSON.stringify(shape.List.of(objects, entities.hasMore)));
    return wire;
  }

  it.each(['ASC', 'DESC'] as const)('files (%s): each object and the list, byte for byte', async (direction) => {
    for (const limit of [2, FILENAMES.length]) {
      await expectSameBytes(
        { entity: FileEntity, wire: FILE_WIRE, toDto: (file) => FileObjectDto.from(file), List: FileListDto },
        request(limit, direction),
      );
    }
  });

  it('batches: each object and the list, byte for byte (jsonb written by Node in its parsed key order)', async () => {
    const wire = await expectSameBytes(
      { entity: BatchEntity, wire: BATCH_WIRE, toDto: (batch) => BatchObjectDto.from(batch), List: BatchListDto },
      request(10, 'DESC'),
    );
    expect(wire.items).toHaveLength(3);
    const full = JSON.parse(wire.items[0].json) as Record<string, unknown>;
    expect(full).toMatchObject({
      in_progress_at: 1796292000,
      completed_at: 1796292001,
      usage: { total_tokens: 9007199254740005 },
    });
  });

  it('an empty page: the envelope alone', async () => {
    const page = { items: [], hasMore: false };
    expect(FileListDto.json(page)).toBe(JSON.stringify(FileListDto.of([], false)));
  });
});
