import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The `Idempotency-Key`s workspaces sent on creates, with the answers replayed to their repeats. */
export class IdempotencyKeys1764330000000 implements MigrationInterface {
  name = 'IdempotencyKeys1764330000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE idempotency_keys (
        workspace_id varchar(40) NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        key varchar(255) NOT NULL,
        fingerprint char(64) NOT NULL,
        state varchar(16) NOT NULL,
        response_status integer,
        response_body text,
        lock_token varchar(40),
        locked_until timestamptz,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (workspace_id, key),
        CONSTRAINT idempotency_keys_state_check CHECK (state IN ('running', 'completed'))
      )`);
    // What the purge-expired-idempotency-keys sweep walks.
    await queryRunner.query(`CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE idempotency_keys`);
  }
}
