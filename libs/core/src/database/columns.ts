import type { ValueTransformer } from 'typeorm';

/** Postgres bigint arrives as a string; these counters stay far below 2^53. */
export const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};
