import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Native provider batches: one row per stage of a shard (stage 0 on the model's upstream, stage k on the k-th
 * fallback, re-running the lines the stage before failed for a retriable reason). The row is written before the
 * provider is asked (`submitting`), so a worker killed mid-way finds its shard by metadata instead of creating
 * a second one. `batches.provider_*` mirror the counts running provider batches report; the usage ledger keeps
 * batch-priced usage apart from online usage.
 */
export class ProviderBatches1764400000000 implements MigrationInterface {
  name = 'ProviderBatches1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE provider_batches (
        batch_id varchar(40) NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
        shard integer NOT NULL,
        stage integer NOT NULL,
        upstream text NOT NULL,
        state varchar(16) NOT NULL,
        first_line integer NOT NULL,
        last_line integer NOT NULL,
        start_byte bigint NOT NULL,
        end_byte bigint NOT NULL,
        lines integer[],
        request_count integer NOT NULL,
        provider_file_id text,
        provider_batch_id text,
        provider_status text,
        reported_completed integer NOT NULL DEFAULT 0,
        reported_failed integer NOT NULL DEFAULT 0,
        cancel_sent_at timestamptz,
        billed_requests integer NOT NULL DEFAULT 0,
        input_tokens bigint NOT NULL DEFAULT 0,
        cached_tokens bigint NOT NULL DEFAULT 0,
        output_tokens bigint NOT NULL DEFAULT 0,
        reasoning_tokens bigint NOT NULL DEFAULT 0,
        intent_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        submitted_at timestamptz,
        ended_at timestamptz,
        PRIMARY KEY (batch_id, shard, stage)
      )`);
    // Only the stages still with a provider are counted (the worker's metrics); done ones pile up.
    await queryRunner.query(
      `CREATE INDEX provider_batches_open_idx ON provider_batches (upstream, state) WHERE state <> 'done'`,
    );
    await queryRunner.query(`
      ALTER TABLE batches
        ADD COLUMN provider_completed integer NOT NULL DEFAULT 0,
        ADD COLUMN provider_failed integer NOT NULL DEFAULT 0`);
    await queryRunner.query(`ALTER TABLE usage_ledger ADD COLUMN pricing varchar(8) NOT NULL DEFAULT 'online'`);
    await queryRunner.query(`ALTER TABLE usage_ledger DROP CONSTRAINT usage_ledger_batch_model_key`);
    await queryRunner.query(
      `ALTER TABLE usage_ledger ADD CONSTRAINT usage_ledger_batch_model_key UNIQUE (batch_id, model, pricing)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE usage_ledger DROP CONSTRAINT usage_ledger_batch_model_key`);
    await queryRunner.query(`DELETE FROM usage_ledger WHERE pricing <> 'online'`);
    await queryRunner.query(
      `ALTER TABLE usage_ledger DROP COLUMN pricing, ADD CONSTRAINT usage_ledger_batch_model_key UNIQUE (batch_id, model)`,
    );
    await queryRunner.query(`ALTER TABLE batches DROP COLUMN provider_failed, DROP COLUMN provider_completed`);
    await queryRunner.query(`DROP TABLE provider_batches`);
  }
}
