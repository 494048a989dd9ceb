import { Injectable } from '@nestjs/common';
import type { Job } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';

interface BatchJobData {
  batchId: string;
  /** Absent on jobs queued before payloads carried it. */
  workspaceId?: string;
}

/** The fields that tie a log line to a batch, for lines logged outside a job's context. */
export const batchLogFields = (job: Job<BatchJobData>) => ({
  batch_id: job.data.batchId,
  workspace_id: job.data.workspaceId,
  job_id: job.id,
});

/**
 * Runs a job's work in a logging context: every line logged meanwhile, by any class (steps, journal,
 * upstream client, outage guard), carries the job's batch_id, workspace_id and job_id.
 */
@Injectable()
export class BatchLogContext {
  constructor(private readonly pino: PinoLogger) {}

  run<T>(job: Job<BatchJobData>, work: () => Promise<T>): Promise<T> {
    return this.pino.runInContext(work, { bindings: batchLogFields(job) });
  }
}
