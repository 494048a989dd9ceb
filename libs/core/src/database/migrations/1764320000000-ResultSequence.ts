import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Partial results (`GET /v1/batches/{id}/results`): every journal record gets a per-batch sequence, handed
 * out in commit order under the batch row lock (`batches.results_recorded` is the counter), and a finished
 * batch keeps the sequence of each line of its output and error files (`batches.result_sequence`), so a
 * reader's cursor survives the journal's purge. Records already journaled are numbered in line order.
 */
export class ResultSequence1764320000000 implements MigrationInterface {
  name = 'ResultSequence1764320000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE batches ADD COLUMN results_recorded integer NOT NULL DEFAULT 0, ADD COLUMN result_sequence integer[]`,
    );
    await queryRunner.query(`ALTER TABLE batch_line_results ADD COLUMN sequence integer`);
    await queryRunner.query(`
      UPDATE batch_line_results r SET sequence = n.sequence
      FROM (SELECT batch_id, line_number, row_number() OVER (PARTITION BY batch_id ORDER BY line_number) AS sequence
            FROM batch_line_results) n
      WHERE r.batch_id = n.batch_id AND r.line_number = n.line_number`);
    await queryRunner.query(`
      UPDATE batches b SET results_recorded = c.n
      FROM (SELECT batch_id, count(*) AS n FROM batch_line_results GROUP BY batch_id) c
      WHERE b.id = c.batch_id`);
    await queryRunner.query(`ALTER TABLE batch_line_results ALTER COLUMN sequence SET NOT NULL`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX batch_line_results_sequence_idx ON batch_line_results (batch_id, sequence)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX batch_line_results_sequence_idx`);
    await queryRunner.query(`ALTER TABLE batch_line_results DROP COLUMN sequence`);
    await queryRunner.query(`ALTER TABLE batches DROP COLUMN results_recorded, DROP COLUMN result_sequence`);
  }
}
