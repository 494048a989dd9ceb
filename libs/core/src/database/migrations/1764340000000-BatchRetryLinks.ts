import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A batch made by `POST /v1/batches/{id}/retry` and the batch it retries, linked both ways (at most one retry each). */
export class BatchRetryLinks1764340000000 implements MigrationInterface {
  name = 'BatchRetryLinks1764340000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE batches
        ADD COLUMN retry_of varchar(40) REFERENCES batches(id) ON DELETE SET NULL,
        ADD COLUMN retried_by varchar(40) REFERENCES batches(id) ON DELETE SET NULL`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX batches_retry_of_idx ON batches (retry_of) WHERE retry_of IS NOT NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE batches DROP COLUMN retried_by, DROP COLUMN retry_of`);
  }
}
