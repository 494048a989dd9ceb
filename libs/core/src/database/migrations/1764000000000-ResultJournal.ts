import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Answers move out of PostgreSQL rows into storage segments: each answered line keeps a small,
 * fixed-size journal record. Batches gain a finalizer lease so only one finalizer runs at a time.
 */
export class ResultJournal1764000000000 implements MigrationInterface {
  name = 'ResultJournal1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE batch_request_results`);
    await queryRunner.query(`
      CREATE TABLE batch_line_results (
        batch_id varchar(40) NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
        line_number integer NOT NULL,
        outcome varchar(16) NOT NULL,
        segment varchar(64) NOT NULL,
        byte_offset integer NOT NULL,
        byte_length integer NOT NULL,
        input_tokens integer NOT NULL,
        cached_tokens integer NOT NULL,
        output_tokens integer NOT NULL,
        reasoning_tokens integer NOT NULL,
        PRIMARY KEY (batch_id, line_number)
      )`);
    await queryRunner.query(
      `ALTER TABLE batches ADD COLUMN finalizer_token varchar(40), ADD COLUMN finalizer_lease_until timestamptz`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE batches DROP COLUMN finalizer_token, DROP COLUMN finalizer_lease_until`);
    await queryRunner.query(`DROP TABLE batch_line_results`);
    await queryRunner.query(`
      CREATE TABLE batch_request_results (
        batch_id varchar(40) NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
        line_number integer NOT NULL,
        custom_id text NOT NULL,
        outcome varchar(16) NOT NULL,
        output_line text NOT NULL,
        PRIMARY KEY (batch_id, line_number)
      )`);
  }
}
