import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Uploads on S3 send their parts straight into one multipart upload (the assembly): the upload keeps its id
 * and hands each arriving part its own block of part numbers; a part records its pieces there, and where it
 * starts in the joined object once a completion has joined them. `released_at`: when a finished upload's storage
 * was freed (the release-finished-uploads sweep frees the others once, orphans included).
 */
export class UploadAssembly1764350000000 implements MigrationInterface {
  name = 'UploadAssembly1764350000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE uploads
        ADD COLUMN assembly_id text,
        ADD COLUMN part_blocks integer NOT NULL DEFAULT 0,
        ADD COLUMN released_at timestamptz`);
    await queryRunner.query(
      `CREATE INDEX uploads_unreleased_idx ON uploads (id) WHERE released_at IS NULL AND status IN ('completed', 'cancelled', 'expired')`,
    );
    await queryRunner.query(`
      ALTER TABLE upload_parts
        ALTER COLUMN storage_key DROP NOT NULL,
        ADD COLUMN assembled jsonb,
        ADD COLUMN joined_offset bigint,
        ADD CONSTRAINT upload_parts_stored CHECK (storage_key IS NOT NULL OR assembled IS NOT NULL)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DELETE FROM upload_parts WHERE storage_key IS NULL`);
    await queryRunner.query(`
      ALTER TABLE upload_parts
        DROP CONSTRAINT upload_parts_stored,
        DROP COLUMN joined_offset,
        DROP COLUMN assembled,
        ALTER COLUMN storage_key SET NOT NULL`);
    await queryRunner.query(`DROP INDEX uploads_unreleased_idx`);
    await queryRunner.query(
      `ALTER TABLE uploads DROP COLUMN released_at, DROP COLUMN part_blocks, DROP COLUMN assembly_id`,
    );
  }
}
