import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A provider batch turned down for the provider's quota (OpenAI's `token_limit_exceeded`) sends its stage back to be
 * created again; the count of times spaces the next tries further apart.
 */
export class ProviderQuotaWaits1764700000000 implements MigrationInterface {
  name = 'ProviderQuotaWaits1764700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE provider_batches ADD COLUMN quota_waits integer NOT NULL DEFAULT 0`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE provider_batches DROP COLUMN quota_waits`);
  }
}
