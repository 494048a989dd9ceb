import { IsOptional, IsString, Matches } from 'class-validator';
import { CoreEnvironment, IntVariable } from '@app/core';

export class WorkerEnvironment extends CoreEnvironment {
  /** OpenAI-compatible base URL including its version prefix, e.g. https://api.openai.com/v1. */
  @Matches(/^https?:\/\/\S+$/, {
    message: 'UPSTREAM_BASE_URL must be an http(s) URL such as https://api.openai.com/v1',
  })
  UPSTREAM_BASE_URL!: string;

  @IsOptional()
  @IsString()
  UPSTREAM_API_KEY?: string;

  /** Optional JSON or YAML routing file: model pattern → base URL and the variable holding its key. */
  @IsOptional()
  @IsString({ message: 'UPSTREAMS_FILE must be the path of a JSON or YAML routing file' })
  UPSTREAMS_FILE?: string;

  /** The most requests the default upstream accepts at once, across all workers (UPSTREAMS_FILE sets it per upstream). */
  @IsOptional()
  @IntVariable('UPSTREAM_MAX_CONCURRENCY', 1, 100_000)
  UPSTREAM_MAX_CONCURRENCY?: number;

  /** How often a provider's batch (a native upstream's shard) is polled. */
  @IntVariable('NATIVE_BATCH_POLL_SECONDS', 1, 3600)
  NATIVE_BATCH_POLL_SECONDS = 30;

  /** `max_tokens` of a chat completion sent to Anthropic without max_tokens or max_completion_tokens (Anthropic requires one). */
  @IntVariable('ANTHROPIC_DEFAULT_MAX_TOKENS', 1, 1_000_000)
  ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;

  /** Upstream requests in flight at once in this worker process. */
  @IntVariable('WORKER_CONCURRENCY', 1, 1024)
  WORKER_CONCURRENCY = 16;

  /** Chunk jobs this process works on at once (they share WORKER_CONCURRENCY). */
  @IntVariable('WORKER_CHUNK_JOBS', 1, 64)
  WORKER_CHUNK_JOBS = 2;

  /** Input lines per chunk: the unit of work sharing between workers. */
  @IntVariable('BATCH_CHUNK_SIZE', 1, 50_000)
  BATCH_CHUNK_SIZE = 500;

  @IntVariable('UPSTREAM_TIMEOUT_MS', 100)
  UPSTREAM_TIMEOUT_MS = 300_000;

  /** Attempts per request, the first included, for 408/5xx and network errors (429 and 503 do not spend them). */
  @IntVariable('UPSTREAM_MAX_ATTEMPTS', 1, 20)
  UPSTREAM_MAX_ATTEMPTS = 5;

  @IntVariable('UPSTREAM_RETRY_BASE_MS', 1)
  UPSTREAM_RETRY_BASE_MS = 1000;

  @IntVariable('UPSTREAM_RETRY_MAX_MS', 1)
  UPSTREAM_RETRY_MAX_MS = 60_000;

  /** How often a running chunk re-reads its batch's status (cancel and expiry are noticed this fast). */
  @IntVariable('BATCH_STATUS_POLL_MS', 50, 60_000)
  BATCH_STATUS_POLL_MS = 1000;

  /** How often each sweep runs, once across the fleet; each worker also checks the sweeps' schedules this often. */
  @IntVariable('BATCH_SWEEP_INTERVAL_MS', 1000)
  BATCH_SWEEP_INTERVAL_MS = 60_000;

  /**
   * Group commit of answers: a group is recorded (one storage write, one database statement) once it
   * holds this many answers or its first answer is this old. Larger groups write less per answer;
   * after a crash at most the unrecorded groups (and the requests in flight) are sent again.
   */
  @IntVariable('JOURNAL_GROUP_MAX_LINES', 1, 10_000)
  JOURNAL_GROUP_MAX_LINES = 500;

  @IntVariable('JOURNAL_GROUP_MAX_DELAY_MS', 1, 10_000)
  JOURNAL_GROUP_MAX_DELAY_MS = 50;

  /**
   * How long a worker waits out PostgreSQL, Redis or storage being unreachable before it gives up
   * on a step. Meanwhile chunks stop sending upstream and keep the answers they have.
   */
  @IntVariable('WORKER_OUTAGE_TOLERANCE_SECONDS', 1, 86_400)
  WORKER_OUTAGE_TOLERANCE_SECONDS = 600;

  /** Port of the worker's /health/live, /health/ready and /metrics (no auth: keep it on a private network); 0 = off. */
  @IntVariable('WORKER_HTTP_PORT', 0, 65535)
  WORKER_HTTP_PORT = 9464;

  /** Loopback by default, as they have no auth: a container sets 0.0.0.0 to be probed and scraped on its network. */
  @IsString({ message: 'WORKER_HTTP_HOST must be the address to serve health and metrics on' })
  @Matches(/\S/, { message: 'WORKER_HTTP_HOST must be the address to serve health and metrics on' })
  WORKER_HTTP_HOST = '127.0.0.1';

  /**
   * First wait before a failed webhook delivery is tried again; each further wait doubles, up to 720 times
   * this (1 hour with the default), over 12 attempts: about 2½ hours in all.
   */
  @IntVariable('WEBHOOK_RETRY_BASE_MS', 1, 3_600_000)
  WEBHOOK_RETRY_BASE_MS = 5000;

  /** How long a webhook receiver has to answer one delivery attempt (connecting included). */
  @IntVariable('WEBHOOK_TIMEOUT_MS', 100, 60_000)
  WEBHOOK_TIMEOUT_MS = 10_000;

  /** BullMQ job lock: a crashed worker's jobs are handed to another after about this long. */
  @IntVariable('WORKER_LOCK_DURATION_MS', 1000)
  WORKER_LOCK_DURATION_MS = 30_000;
}
