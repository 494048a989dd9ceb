import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional, IsString, Matches, MinLength, ValidateBy } from 'class-validator';
import { API_KEY_PATTERN, CoreEnvironment, IntVariable, UPLOAD_DEFAULT_EXPIRY_SECONDS } from '@app/core';
import { PriceTable } from '../batches/estimate/price-table';

/** The problem with a price table file, or null when it loads. */
const priceFileProblem = (path: unknown): string | null => {
  try {
    PriceTable.load(String(path));
    return null;
  } catch (error) {
    return (error as Error).message.startsWith('PRICES_FILE')
      ? (error as Error).message
      : `PRICES_FILE ${String(path)} cannot be read as JSON or YAML: ${(error as Error).message}`;
  }
};

export class ApiEnvironment extends CoreEnvironment {
  @IntVariable('PORT', 1, 65535)
  PORT = 3000;

  /**
   * Above the shared default: the api answers many short reads at once (clients poll), and with few connections
   * they queue for a free one rather than for the database (README, Benchmarks).
   */
  @IntVariable('DATABASE_POOL_SIZE', 1, 1000)
  override DATABASE_POOL_SIZE = 40;

  /** The address to listen on: every interface by default (as a container needs); 127.0.0.1 keeps it local. */
  @IsString()
  HOST = '0.0.0.0';

  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'ADMIN_API_KEY must be at least 16 characters (or unset to turn the admin API off)' })
  ADMIN_API_KEY?: string;

  @IsOptional()
  @Matches(API_KEY_PATTERN, { message: 'BOOTSTRAP_API_KEY must be vk_ followed by at least 32 letters or digits' })
  BOOTSTRAP_API_KEY?: string;

  @IntVariable('MAX_UPLOAD_BYTES', 1)
  MAX_UPLOAD_BYTES = 512 * 1024 * 1024;

  /**
   * A connection that sends or takes nothing for this long is closed. There is no limit on a whole request:
   * a large upload on a slow link may take hours, as long as its bytes keep coming.
   */
  @IntVariable('HTTP_IDLE_TIMEOUT_MS', 1000)
  HTTP_IDLE_TIMEOUT_MS = 120_000;

  /** Comma-separated completion windows a batch may ask for. */
  @Matches(/^\s*\d+[smhd]\s*(,\s*\d+[smhd]\s*)*$/, {
    message: 'BATCH_COMPLETION_WINDOWS must be a comma-separated list of durations such as 24h',
  })
  BATCH_COMPLETION_WINDOWS = '24h';

  /** Shortens every completion window to this many seconds (tests and demos of expiry). */
  @IsOptional()
  @IntVariable('BATCH_WINDOW_OVERRIDE_SECONDS', 1)
  BATCH_WINDOW_OVERRIDE_SECONDS?: number;

  /** Requests per minute per API key, counted in Redis (shared by every api replica); unset = no limit. */
  @IsOptional()
  @IntVariable('RATE_LIMIT_PER_MINUTE', 1)
  RATE_LIMIT_PER_MINUTE?: number;

  /**
   * Wrong keys one client address may present per minute, counted in Redis (shared by every api replica); past it
   * 429 until the minute ends. 0 = no limit.
   */
  @IntVariable('AUTH_FAILURES_PER_MINUTE', 0)
  AUTH_FAILURES_PER_MINUTE = 60;

  /**
   * Express's `trust proxy`: the proxies in front of the api whose X-Forwarded-For names the client (the address
   * failed authentications are counted against). Unset: none, the client is whoever holds the connection. `true`
   * would let any client name any address.
   */
  @IsOptional()
  @Matches(/^(true|false|\d+|[\w.:/-]+(\s*,\s*[\w.:/-]+)*)$/, {
    message:
      'TRUST_PROXY must be true, false, a number of hops, or comma-separated addresses, subnets or loopback/linklocal/uniquelocal',
  })
  TRUST_PROXY?: string;

  /** TRUST_PROXY as Express takes it. */
  get trustProxy(): boolean | number | string {
    const value = this.TRUST_PROXY ?? 'false';
    return value === 'true' ? true : value === 'false' ? false : /^\d+$/.test(value) ? Number(value) : value;
  }

  /** Batches a workspace may have open (not yet in a terminal status); a create beyond it answers 429. Unset = no limit. */
  @IsOptional()
  @IntVariable('MAX_OPEN_BATCHES_PER_WORKSPACE', 1)
  MAX_OPEN_BATCHES_PER_WORKSPACE?: number;

  /**
   * How long an api process trusts a key it has looked up. A revocation reaches every replica at once through
   * Redis; while that channel is down the cache is not used, so a revoked key is never honoured beyond this.
   * 0 turns the cache off.
   */
  @IntVariable('API_KEY_CACHE_SECONDS', 0, 300)
  API_KEY_CACHE_SECONDS = 30;

  /** Model prices for estimates (JSON or YAML); unset, estimates answer cost_usd: null. */
  @IsOptional()
  @ValidateBy({
    name: 'isPriceFile',
    validator: {
      validate: (value: unknown) => priceFileProblem(value) === null,
      defaultMessage: (args) => priceFileProblem(args?.value) ?? 'PRICES_FILE is invalid',
    },
  })
  PRICES_FILE?: string;

  /**
   * The output ceiling an estimate (and a budget) assumes for a request that sets no max_tokens & co: a request
   * without one may well answer this much, and counting it as 0 let budgets be overrun.
   */
  @IntVariable('ESTIMATE_DEFAULT_MAX_OUTPUT_TOKENS', 0)
  ESTIMATE_DEFAULT_MAX_OUTPUT_TOKENS = 4096;

  /**
   * Batch input files counted at once per api process (estimates, and batch creates of a workspace with a budget),
   * each on a worker thread; the others wait their turn.
   */
  @IntVariable('ESTIMATE_CONCURRENCY', 1, 64)
  ESTIMATE_CONCURRENCY = 2;

  /** How long an upload (POST /v1/uploads) may take to be completed: OpenAI's hour; shorter for tests and demos. */
  @IntVariable('UPLOAD_EXPIRY_SECONDS', 1, UPLOAD_DEFAULT_EXPIRY_SECONDS)
  UPLOAD_EXPIRY_SECONDS = UPLOAD_DEFAULT_EXPIRY_SECONDS;

  /**
   * On S3, whether an upload's parts go straight into one multipart upload, joined in place at completion. That
   * needs a store that takes parts of different sizes (AWS S3, MinIO, Ceph); Cloudflare R2 and Garage require
   * equal ones, so there every part is an object of its own and completion streams. Unset: on, but for R2.
   */
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'S3_JOIN_IN_PLACE must be true or false' })
  S3_JOIN_IN_PLACE?: boolean;

  get joinsUploadsInPlace(): boolean {
    return this.S3_JOIN_IN_PLACE ?? !/\.r2\.cloudflarestorage\.com(:\d+)?(\/|$)/i.test(this.S3_ENDPOINT ?? '');
  }

  /** How long an `Idempotency-Key` is remembered: a repeat within this many seconds gets the first answer again. */
  @IntVariable('IDEMPOTENCY_TTL_SECONDS', 1)
  IDEMPOTENCY_TTL_SECONDS = 24 * 3600;
}
