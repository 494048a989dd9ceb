import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateSchema1763900000000 implements MigrationInterface {
  name = 'CreateSchema1763900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE workspaces (
        id varchar(40) PRIMARY KEY,
        name varchar(200) NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
      )`);
    await queryRunner.query(`
      CREATE TABLE api_keys (
        id varchar(40) PRIMARY KEY,
        workspace_id varchar(40) NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        name varchar(200),
        key_hash char(64) NOT NULL UNIQUE,
        key_prefix varchar(16) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        revoked_at timestamptz
      )`);
    await queryRunner.query(`CREATE INDEX api_keys_workspace_idx ON api_keys (workspace_id)`);
    await queryRunner.query(`
      CREATE TABLE files (
        id varchar(40) PRIMARY KEY,
        workspace_id varchar(40) NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        purpose varchar(32) NOT NULL,
        filename text NOT NULL,
        bytes bigint NOT NULL,
        storage_key text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        expires_at timestamptz
      )`);
    await queryRunner.query(`CREATE INDEX files_workspace_created_idx ON files (workspace_id, created_at, id)`);
    await queryRunner.query(`
      CREATE TABLE batches (
        id varchar(40) PRIMARY KEY,
        workspace_id varchar(40) NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        endpoint varchar(64) NOT NULL,
        model text,
        errors jsonb,
        input_file_id varchar(40) NOT NULL,
        completion_window varchar(16) NOT NULL,
        status varchar(16) NOT NULL,
        output_file_id varchar(40),
        error_file_id varchar(40),
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        expires_at timestamptz NOT NULL,
        in_progress_at timestamptz,
        finalizing_at timestamptz,
        completed_at timestamptz,
        failed_at timestamptz,
        expired_at timestamptz,
        cancelling_at timestamptz,
        cancelled_at timestamptz,
        request_total integer NOT NULL DEFAULT 0,
        request_completed integer NOT NULL DEFAULT 0,
        request_failed integer NOT NULL DEFAULT 0,
        input_tokens bigint NOT NULL DEFAULT 0,
        cached_tokens bigint NOT NULL DEFAULT 0,
        output_tokens bigint NOT NULL DEFAULT 0,
        reasoning_tokens bigint NOT NULL DEFAULT 0,
        metadata jsonb,
        output_expires_after_seconds integer,
        CONSTRAINT batches_status_check CHECK (status IN
          ('validating','failed','in_progress','finalizing','completed','expired','cancelling','cancelled'))
      )`);
    await queryRunner.query(`CREATE INDEX batches_workspace_created_idx ON batches (workspace_id, created_at, id)`);
    await queryRunner.query(
      `CREATE INDEX batches_open_idx ON batches (status) WHERE status IN ('validating','in_progress','cancelling','finalizing')`,
    );
    await queryRunner.query(`
      CREATE TABLE batch_request_results (
        batch_id varchar(40) NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
        line_number integer NOT NULL,
        custom_id text NOT NULL,
        outcome varchar(16) NOT NULL,
        output_line text NOT NULL,
        PRIMARY KEY (batch_id, line_number)
      )`);
    await queryRunner.query(`
      CREATE TABLE usage_ledger (
        id bigserial PRIMARY KEY,
        workspace_id varchar(40) NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        batch_id varchar(40) NOT NULL,
        model text NOT NULL,
        request_count integer NOT NULL,
        input_tokens bigint NOT NULL,
        cached_tokens bigint NOT NULL,
        output_tokens bigint NOT NULL,
        reasoning_tokens bigint NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT usage_ledger_batch_model_key UNIQUE (batch_id, model)
      )`);
    await queryRunner.query(
      `CREATE INDEX usage_ledger_workspace_recorded_idx ON usage_ledger (workspace_id, recorded_at)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE usage_ledger`);
    await queryRunner.query(`DROP TABLE batch_request_results`);
    await queryRunner.query(`DROP TABLE batches`);
    await queryRunner.query(`DROP TABLE files`);
    await queryRunner.query(`DROP TABLE api_keys`);
    await queryRunner.query(`DROP TABLE workspaces`);
  }
}
