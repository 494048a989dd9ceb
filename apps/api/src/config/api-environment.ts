import { IsOptional, IsString, Matches, MinLength } from 'class-validator';
import { API_KEY_PATTERN, CoreEnvironment, IntVariable } from '@app/core';

export class ApiEnvironment extends CoreEnvironment {
  @IntVariable('PORT', 1, 65535)
  PORT = 3000;

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

  /** How long an `Idempotency-Key` is remembered: a repeat within this many seconds gets the first answer again. */
  @IntVariable('IDEMPOTENCY_TTL_SECONDS', 1)
  IDEMPOTENCY_TTL_SECONDS = 24 * 3600;
}
