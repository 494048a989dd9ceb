import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A workspace's monthly token budget (null = none), and each batch's estimate taken at create: what an open
 * batch holds back from the budget until the usage ledger records what it really used.
 */
export class TokenBudgets1764310000000 implements MigrationInterface {
  name = 'TokenBudgets1764310000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE workspaces ADD COLUMN monthly_token_budget bigint CHECK (monthly_token_budget >= 0)`,
    );
    await queryRunner.query(`ALTER TABLE batches ADD COLUMN estimated_tokens bigint`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE batches DROP COLUMN estimated_tokens`);
    await queryRunner.query(`ALTER TABLE workspaces DROP COLUMN monthly_token_budget`);
  }
}
