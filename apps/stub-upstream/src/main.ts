import { DEFAULT_MESSAGE_BATCH_MS } from './message-batches';
import { createStubUpstream, MAX_EMBEDDING_DIMS } from './stub-upstream';

const port = Number(process.env.STUB_PORT ?? 4010);
const host = process.env.STUB_HOST ?? '0.0.0.0';
const latencyMs = Number(process.env.STUB_LATENCY_MS ?? 0);
const retryAfterMs = Number(process.env.STUB_RETRY_AFTER_MS ?? 1000);

const embeddingDims = Number(process.env.STUB_EMBEDDING_DIMS || 8);
if (!Number.isInteger(embeddingDims) || embeddingDims < 1 || embeddingDims > MAX_EMBEDDING_DIMS) {
  process.stderr.write(
    `Configuration error: STUB_EMBEDDING_DIMS must be an integer between 1 and ${MAX_EMBEDDING_DIMS}\n`,
  );
  process.exit(1);
}
const apiKey = process.env.STUB_API_KEY || undefined;
const capacity = process.env.STUB_CAPACITY ? Number(process.env.STUB_CAPACITY) : undefined;
const messageBatchMs = Number(process.env.STUB_MESSAGE_BATCH_MS || DEFAULT_MESSAGE_BATCH_MS);
if (!Number.isFinite(messageBatchMs) || messageBatchMs < 0) {
  process.stderr.write('Configuration error: STUB_MESSAGE_BATCH_MS must be a number of milliseconds (0 or more)\n');
  process.exit(1);
}

const { server } = createStubUpstream({ latencyMs, retryAfterMs, apiKey, embeddingDims, capacity, messageBatchMs });
server.listen(port, host, () => {
  process.stdout.write(`Stub upstream (a stand-in for an OpenAI-compatible provider) on http://${host}:${port}/v1\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
