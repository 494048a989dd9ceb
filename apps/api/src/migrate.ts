import 'reflect-metadata';
import { Matches } from 'class-validator';
import { loadEnvironmentOrExit, runMigrations } from '@app/core';

class MigrationEnvironment {
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'DATABASE_URL must be a postgres://user@host:port/db URL' })
  DATABASE_URL!: string;
}

async function migrate(): Promise<void> {
  const env = loadEnvironmentOrExit(MigrationEnvironment);
  const applied = await runMigrations(env.DATABASE_URL);
  process.stdout.write(
    applied.length ? `Applied: ${applied.join(', ')}\n` : 'Nothing to apply: schema is up to date\n',
  );
}

migrate().catch((error: Error) => {
  process.stderr.write(`Migration failed: ${error.message}\n`);
  process.exit(1);
});
