import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateIf,
  validateSync,
} from 'class-validator';

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

export const STORAGE_DRIVERS = ['local', 's3'] as const;
export type StorageDriverName = (typeof STORAGE_DRIVERS)[number];

/** Variables both apps read. Each app extends this with its own. */
export class CoreEnvironment {
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'DATABASE_URL must be a postgres://user@host:port/db URL' })
  DATABASE_URL!: string;

  @Matches(/^rediss?:\/\/[^/\s]+(\/\d{1,2})?$/, { message: 'REDIS_URL must be a redis://host:port/db URL' })
  REDIS_URL!: string;

  @IsOptional()
  @IsIn(STORAGE_DRIVERS, { message: `STORAGE_DRIVER must be one of ${STORAGE_DRIVERS.join(', ')}` })
  STORAGE_DRIVER: StorageDriverName = 'local';

  @ValidateIf((env: CoreEnvironment) => env.STORAGE_DRIVER === 'local')
  @IsString({
    message: 'STORAGE_DIR must be the path of the local file storage root (required with STORAGE_DRIVER=local)',
  })
  @Matches(/\S/, {
    message: 'STORAGE_DIR must be the path of the local file storage root (required with STORAGE_DRIVER=local)',
  })
  STORAGE_DIR!: string;

  @ValidateIf((env: CoreEnvironment) => env.STORAGE_DRIVER === 's3')
  @Matches(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
    message:
      'S3_BUCKET must be a bucket name (3-63 lowercase letters, digits, dots, hyphens; required with STORAGE_DRIVER=s3)',
  })
  S3_BUCKET!: string;

  @IsOptional()
  @Matches(/^[a-z0-9-]+$/, { message: 'S3_REGION must be a region name such as us-east-1' })
  S3_REGION = 'us-east-1';

  /** Another S3-compatible store (MinIO, R2, Ceph ...); unset = AWS. */
  @IsOptional()
  @Matches(/^https?:\/\/[^\s/]+(\/\S*)?$/, { message: 'S3_ENDPOINT must be an http:// or https:// URL' })
  S3_ENDPOINT?: string;

  /** Both or neither: unset, the SDK's default credential chain applies (AWS_* variables, instance or task roles). */
  @ValidateIf((env: CoreEnvironment) => env.S3_SECRET_ACCESS_KEY !== undefined)
  @IsString({ message: 'S3_ACCESS_KEY_ID must be set when S3_SECRET_ACCESS_KEY is' })
  S3_ACCESS_KEY_ID?: string;

  @ValidateIf((env: CoreEnvironment) => env.S3_ACCESS_KEY_ID !== undefined)
  @IsString({ message: 'S3_SECRET_ACCESS_KEY must be set when S3_ACCESS_KEY_ID is' })
  S3_SECRET_ACCESS_KEY?: string;

  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'S3_FORCE_PATH_STYLE must be true or false' })
  S3_FORCE_PATH_STYLE = false;

  /** Keys go under this prefix, so one bucket can hold several deployments. */
  @IsOptional()
  @Matches(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, {
    message: 'S3_PREFIX must be path segments of letters, digits, _ . - joined by / (no leading or trailing /)',
  })
  S3_PREFIX?: string;

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

  /**
   * Webhooks may reach loopback, private, link-local and other non-public addresses (a receiver on this host or
   * network). Off, the api refuses such URLs and the worker refuses to connect to them, whatever DNS says then.
   */
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'WEBHOOK_ALLOW_PRIVATE_URLS must be true or false' })
  WEBHOOK_ALLOW_PRIVATE_URLS = false;

  /**
   * Reads of one statement started in the same turn of the event loop share one execution (PreparedReads). Off,
   * each read runs its own: to compare plans or latencies, or to rule coalescing out when chasing a bug.
   */
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'READ_COALESCING must be true or false' })
  READ_COALESCING = true;

  /** PostgreSQL connections this process keeps (the api overrides the default: every read it answers is a query). */
  @IntVariable('DATABASE_POOL_SIZE', 1, 1000)
  DATABASE_POOL_SIZE = 10;
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
