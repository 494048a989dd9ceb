const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "24h" → 86400. Returns null for anything that is not <digits><s|m|h|d>. */
export function windowSeconds(window: string): number | null {
  const match = /^(\d+)([smhd])$/.exec(window);
  return match ? Number(match[1]) * UNIT_SECONDS[match[2]] : null;
}

export const parseWindowList = (list: string): string[] =>
  list
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
