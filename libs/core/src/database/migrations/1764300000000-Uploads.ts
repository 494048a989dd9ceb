import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The Uploads API: an upload collects parts (each its own stored object) until it is completed into a file. */
export class Uploads1764300000000 implements MigrationInterface {
  name = 'Uploads1764300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE uploads (
        id varchar(40) PRIMARY KEY,
        workspace_id varchar(40) NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        purpose varchar(32) NOT NULL,
        filename text NOT NULL,
        bytes bigint NOT NULL,
        mime_type text NOT NULL,
        file_ttl_seconds integer,
        status varchar(16) NOT NULL DEFAULT 'pending',
        file_id varchar(40) REFERENCES files(id) ON DELETE SET NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        expires_at timestamptz NOT NULL
      )`);
    // The expire-uploads sweep looks for open uploads past their hour.
    await queryRunner.query(
      `CREATE INDEX uploads_open_expires_at_idx ON uploads (expires_at) WHERE status IN ('pending', 'completing')`,
    );
    await queryRunner.query(`
      CREATE TABLE upload_parts (
        id varchar(40) PRIMARY KEY,
        upload_id varchar(40) NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
        bytes bigint NOT NULL,
        storage_key text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
      )`);
    await queryRunner.query(`CREATE INDEX upload_parts_upload_idx ON upload_parts (upload_id)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE upload_parts`);
    await queryRunner.query(`DROP TABLE uploads`);
  }
}
