import { plainToInstance, Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, validateSync } from 'class-validator';

const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;

/** An integer variable within [min, max], converted from its string, with one message naming it. */
export function IntVariable(name: string, min: number, max = Number.MAX_SAFE_INTEGER): PropertyDecorator {
  const message =
    max === Number.MAX_SAFE_INTEGER
      ? `${name} must be an integer of at least ${min}`
      : `${name} must be an integer between ${min} and ${max}`;
  const decorators = [Transform(toInt), IsInt({ message }), Min(min, { message }), Max(max, { message })];
  return (target, key) => decorators.forEach((decorate) => decorate(target, key));
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'log', 'debug', 'verbose'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/** Variables both apps read. Each app extends this with its own. */
export class CoreEnvironment {
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'DATABASE_URL must be a postgres://user@host:port/db URL' })
  DATABASE_URL!: string;

  @Matches(/^rediss?:\/\/[^/\s]+(\/\d{1,2})?$/, { message: 'REDIS_URL must be a redis://host:port/db URL' })
  REDIS_URL!: string;

  @IsString({ message: 'STORAGE_DIR must be the path of the local file storage root' })
  @Matches(/\S/, { message: 'STORAGE_DIR must be the path of the local file storage root' })
  STORAGE_DIR!: string;

  @IsOptional()
  @IsIn(LOG_LEVELS, { message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` })
  LOG_LEVEL: LogLevelName = 'info';

  @IsOptional()
  @IsIn(['text', 'json'], { message: 'LOG_FORMAT must be text or json' })
  LOG_FORMAT: 'text' | 'json' = 'text';

  /** Largest accepted batch input file; OpenAI's limit is 200 MB. */
  @IntVariable('BATCH_MAX_FILE_BYTES', 1)
  BATCH_MAX_FILE_BYTES = 200 * 1024 * 1024;

  /** Most requests in one batch input file; OpenAI's limit is 50,000. */
  @IntVariable('BATCH_MAX_REQUESTS', 1)
  BATCH_MAX_REQUESTS = 50_000;
}

export class EnvValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
  }
}

/** Validates `source` (normally process.env) against an environment class; throws naming every bad variable. */
export function validateEnvironment<T extends object>(cls: new () => T, source: Record<string, string | undefined>): T {
  const present = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const env = plainToInstance(cls, present, { exposeDefaultValues: true });
  const errors = validateSync(env, { whitelist: false, forbidUnknownValues: false });
  if (errors.length > 0) {
    throw new EnvValidationError(
      errors.map((e) => Object.values(e.constraints ?? { invalid: `${e.property} is invalid` })[0]),
    );
  }
  return env;
}

/** Validates process.env at start-up; on failure prints one line per bad variable and exits. */
export function loadEnvironmentOrExit<T extends object>(cls: new () => T): T {
  try {
    return validateEnvironment(cls, process.env);
  } catch (error) {
    if (error instanceof EnvValidationError) {
      for (const problem of error.problems) {
        process.stderr.write(`Configuration error: ${problem}\n`);
      }
      process.exit(1);
    }
    throw error;
  }
}
