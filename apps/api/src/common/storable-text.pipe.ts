import { type ArgumentMetadata, Injectable, type PipeTransform } from '@nestjs/common';
import { AppError, ErrorCode } from '@app/core';

/** PostgreSQL text and jsonb cannot hold U+0000: such a value can name nothing stored and is refused here. */
export const hasNulCharacter = (value: string): boolean => value.includes('\u0000');

/** The path of the first string under `value` that holds a NUL character, or null. */
function nulPath(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'string') {
    return hasNulCharacter(value) ? path : null;
  }
  if (value === null || typeof value !== 'object' || depth > 32) {
    return null;
  }
  for (const [key, item] of Object.entries(value)) {
    const found = hasNulCharacter(key) ? path : nulPath(item, path ? `${path}.${key}` : key, depth + 1);
    if (found !== null) {
      return found;
    }
  }
  return null;
}

/**
 * Every path parameter, query parameter and body field passes here first: a NUL character anywhere
 * is a clear 400 naming the field, instead of an error from the database.
 */
@Injectable()
export class StorableTextPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type === 'custom') {
      return value;
    }
    const path = nulPath(value, metadata.data ?? '');
    if (path !== null) {
      throw new AppError(
        ErrorCode.InvalidRequest,
        `Invalid '${path || metadata.type}': it contains a NUL character.`,
        path || null,
      );
    }
    return value;
  }
}
