import { createStubUpstream } from './stub-upstream';

const port = Number(process.env.STUB_PORT ?? 4010);
const latencyMs = Number(process.env.STUB_LATENCY_MS ?? 0);
const retryAfterMs = Number(process.env.STUB_RETRY_AFTER_MS ?? 1000);

const apiKey = process.env.STUB_API_KEY || undefined;
const capacity = process.env.STUB_CAPACITY ? Number(process.env.STUB_CAPACITY) : undefined;

const { server } = createStubUpstream({ latencyMs, retryAfterMs, apiKey, capacity });
server.listen(port, () => {
  process.stdout.write(`Stub upstream (a stand-in for an OpenAI-compatible provider) on http://0.0.0.0:${port}/v1\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
