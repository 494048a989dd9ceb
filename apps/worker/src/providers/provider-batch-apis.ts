import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Agent } from 'undici';
import { WorkerEnvironment } from '../config/worker-environment';
import { WorkerMetrics } from '../monitoring/worker-metrics';
import type { Upstream } from '../upstream/upstream-routes';
import { AnthropicBatchApi } from './anthropic/anthropic-batch-api';
import { OpenAiBatchApi } from './openai/openai-batch-api';
import type { ProviderBatchApi } from './provider-batch-api';
import { ProviderHttp } from './provider-http';

/** The Batch API of each native upstream, in its protocol, over one pool of connections; each request counted. */
@Injectable()
export class ProviderBatchApis implements OnModuleDestroy {
  private readonly agent = new Agent({ connections: 8, keepAliveTimeout: 30_000 });
  private readonly apis = new Map<string, ProviderBatchApi>();

  constructor(
    private readonly env: WorkerEnvironment,
    private readonly metrics: WorkerMetrics,
  ) {}

  for(upstream: Upstream): ProviderBatchApi {
    let api = this.apis.get(upstream.name);
    if (!api) {
      const http = new ProviderHttp(upstream, this.agent, this.env.UPSTREAM_TIMEOUT_MS, (outcome) =>
        this.metrics.providerCall(upstream.name, outcome),
      );
      api =
        upstream.protocol === 'anthropic'
          ? new AnthropicBatchApi(http, this.env.ANTHROPIC_DEFAULT_MAX_TOKENS)
          : new OpenAiBatchApi(http);
      this.apis.set(upstream.name, api);
    }
    return api;
  }

  async onModuleDestroy(): Promise<void> {
    await this.agent.close();
  }
}
