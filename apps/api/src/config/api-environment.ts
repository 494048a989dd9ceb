import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, Min, MinLength } from 'class-validator';
import { API_KEY_PATTERN, CoreEnvironment } from '@app/core';

const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;

export class ApiEnvironment extends CoreEnvironment {
  @Transform(toInt)
  @IsInt({ message: 'PORT must be an integer between 1 and 65535' })
  @Min(1, { message: 'PORT must be an integer between 1 and 65535' })
  @Max(65535, { message: 'PORT must be an integer between 1 and 65535' })
  PORT = 3000;

  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'ADMIN_API_KEY must be at least 16 characters (or unset to turn the admin API off)' })
  ADMIN_API_KEY?: string;

  @IsOptional()
  @Matches(API_KEY_PATTERN, { message: 'BOOTSTRAP_API_KEY must be vk_ followed by at least 32 letters or digits' })
  BOOTSTRAP_API_KEY?: string;

  @Transform(toInt)
  @IsInt({ message: 'MAX_UPLOAD_BYTES must be an integer number of bytes' })
  @Min(1, { message: 'MAX_UPLOAD_BYTES must be at least 1' })
  MAX_UPLOAD_BYTES = 512 * 1024 * 1024;

  /** Comma-separated completion windows a batch may ask for. */
  @Matches(/^\s*\d+[smhd]\s*(,\s*\d+[smhd]\s*)*$/, {
    message: 'BATCH_COMPLETION_WINDOWS must be a comma-separated list of durations such as 24h',
  })
  BATCH_COMPLETION_WINDOWS = '24h';

  /** Shortens every completion window to this many seconds (tests and demos of expiry). */
  @IsOptional()
  @Transform(toInt)
  @IsInt({ message: 'BATCH_WINDOW_OVERRIDE_SECONDS must be an integer number of seconds' })
  @Min(1, { message: 'BATCH_WINDOW_OVERRIDE_SECONDS must be at least 1' })
  BATCH_WINDOW_OVERRIDE_SECONDS?: number;
}
