import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The expired-file sweep looks files up by expires_at: without an index it reads the whole table. */
export class FilesExpiryIndex1764100000000 implements MigrationInterface {
  name = 'FilesExpiryIndex1764100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX files_expires_at_idx ON files (expires_at) WHERE expires_at IS NOT NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX files_expires_at_idx`);
  }
}
