import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What a native stage leaves at the provider (its input file, result files or Message Batch) is deleted by a sweep,
 * not by the stage's last turn: the batch's finalize no longer waits on the provider's deletes, and a provider away
 * when they are due has them tried again at the next run instead of the files staying there.
 */
export class ProviderFilesOwed1764600000000 implements MigrationInterface {
  name = 'ProviderFilesOwed1764600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE provider_batches ADD COLUMN discard_owed boolean NOT NULL DEFAULT false`);
    await queryRunner.query(
      `CREATE INDEX provider_batches_discard_owed_idx ON provider_batches (ended_at) WHERE discard_owed`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE provider_batches DROP COLUMN discard_owed`);
  }
}
