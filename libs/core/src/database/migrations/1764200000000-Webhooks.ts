import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhooks of a workspace, the events batches raise, and the outbox of deliveries (one per event and
 * subscribed webhook), written in the transaction that ends the batch.
 */
export class Webhooks1764200000000 implements MigrationInterface {
  name = 'Webhooks1764200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE webhooks (
        id varchar(40) PRIMARY KEY,
        workspace_id varchar(40) NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        url text NOT NULL,
        events text[] NOT NULL,
        secret varchar(80) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT webhooks_events_check CHECK (
          cardinality(events) > 0
          AND events <@ ARRAY['batch.completed','batch.failed','batch.expired','batch.cancelled']::text[])
      )`);
    await queryRunner.query(`CREATE INDEX webhooks_workspace_created_idx ON webhooks (workspace_id, created_at, id)`);
    await queryRunner.query(`
      CREATE TABLE webhook_events (
        id varchar(40) PRIMARY KEY,
        workspace_id varchar(40) NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        batch_id varchar(40) NOT NULL UNIQUE REFERENCES batches(id) ON DELETE CASCADE,
        type varchar(32) NOT NULL,
        created_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX webhook_events_workspace_idx ON webhook_events (workspace_id)`);
    await queryRunner.query(`
      CREATE TABLE webhook_deliveries (
        id varchar(40) PRIMARY KEY,
        workspace_id varchar(40) NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        webhook_id varchar(40) NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        event_id varchar(40) NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
        attempts integer NOT NULL DEFAULT 0,
        last_status integer,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        last_attempt_at timestamptz,
        delivered_at timestamptz,
        gave_up_at timestamptz
      )`);
    await queryRunner.query(
      `CREATE INDEX webhook_deliveries_webhook_created_idx ON webhook_deliveries (webhook_id, created_at, id)`,
    );
    await queryRunner.query(`CREATE INDEX webhook_deliveries_workspace_idx ON webhook_deliveries (workspace_id)`);
    await queryRunner.query(`CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id)`);
    // What the requeue-owed-webhooks sweep walks: deliveries still owed (usually none).
    await queryRunner.query(
      `CREATE INDEX webhook_deliveries_owed_idx ON webhook_deliveries (created_at, id)
       WHERE delivered_at IS NULL AND gave_up_at IS NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE webhook_deliveries`);
    await queryRunner.query(`DROP TABLE webhook_events`);
    await queryRunner.query(`DROP TABLE webhooks`);
  }
}
