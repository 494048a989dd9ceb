import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The journal's rows lose their foreign key to `batches`. Its check ran once per recorded line, and made up a third
 * of the time PostgreSQL spent recording a group. It guarded nothing: a line is recorded only by the statement that
 * holds its batch's row locked (`ResultJournalRepository.record`), and the one delete of a batch
 * (`BatchRepository.undoCreate`) is of a batch no worker has run. The journal is purged once its batch ends.
 */
export class JournalWithoutForeignKey1764500000000 implements MigrationInterface {
  name = 'JournalWithoutForeignKey1764500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE batch_line_results DROP CONSTRAINT batch_line_results_batch_id_fkey`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `DELETE FROM batch_line_results r WHERE NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = r.batch_id)`,
    );
    await queryRunner.query(
      `ALTER TABLE batch_line_results ADD CONSTRAINT batch_line_results_batch_id_fkey
         FOREIGN KEY (batch_id) REFERENCES batches (id) ON DELETE CASCADE`,
    );
  }
}
