/**
 * One housekeeping concern, run by the maintenance queue on its own job scheduler: a run that fails is logged and
 * counted, and the next tick runs it again; the other sweeps are not held up. Every sweep is idempotent, so a run
 * that overlaps the next (or is handed on after its worker died) does no harm.
 */
export interface Sweep {
  /** Milliseconds between two runs, fleet-wide; BATCH_SWEEP_INTERVAL_MS when not set. */
  readonly every?: number;
  /** Also run once when a worker starts, rather than up to `every` later. */
  readonly atStart?: boolean;
  run(): Promise<void>;
}
