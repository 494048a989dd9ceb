import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { pino } from 'pino';
import { AppModule } from './app.module';
import { ApiEnvironment } from './config/api-environment';

/** The OpenAPI document of the api's routes and DTOs: what /docs-json serves and openapi.json holds. */
function openApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Venna Files & Batches')
    .setDescription(
      'OpenAI-compatible Files and Batches API. Point an official OpenAI SDK at this server ' +
        '(baseURL = <host>/v1) with a workspace key as apiKey.\n\n' +
        "**Native provider batches.** The operator's routing file (the worker's `UPSTREAMS_FILE`) decides where a " +
        "batch's model runs: `batch: execute` sends each line to the upstream's online endpoint; `batch: native` " +
        "forwards the batch to the provider's own Batch API at its batch price (`protocol: openai` for OpenAI, Azure " +
        'OpenAI, Groq, Together; `protocol: anthropic` for Message Batches, chat completions only), in shards within ' +
        '`max_batch_requests` / `max_batch_bytes`, with `headers`, `query`, `keep_provider_files` and a per-line ' +
        '`fallback` list of other upstreams. Nothing changes for a client: the same batch object, `request_counts` ' +
        '(mirroring the provider while it runs), results, cancel and window. The usage ledger marks each row ' +
        '`pricing: batch` or `online` (see the README).',
    )
    .setVersion('1.0')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'vk_...',
        description: 'Workspace API key — Authorization: Bearer vk_.... Billing targets the key workspace.',
      },
      'workspace-key',
    )
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'Operator key — Authorization: Bearer <ADMIN_API_KEY>.' },
      'admin-key',
    )
    .addTag('Files', 'Upload, list, retrieve, delete and download files')
    .addTag('Uploads', 'Upload a large file in parts (up to MAX_UPLOAD_BYTES), completed into a File')
    .addTag('Batches', 'Create, list, retrieve and cancel batches')
    .addTag('Batches (extensions)', 'Beyond OpenAI: estimate a batch before creating it')
    .addTag('Admin', 'Workspaces, API keys, usage and webhooks (operators only; not under /v1)')
    .build();
  return SwaggerModule.createDocument(app, config);
}

/**
 * The same document without a running api, for `npm run openapi`: in Nest's preview mode the module tree is
 * scanned but no provider is created, so nothing reads the environment or connects to PostgreSQL or Redis.
 */
export async function offlineOpenApiDocument(): Promise<OpenAPIObject> {
  const module = AppModule.register(new ApiEnvironment(), pino({ enabled: false }));
  return openApiDocument(await NestFactory.create(module, { preview: true, logger: false }));
}

export function setupSwagger(app: INestApplication): void {
  const document = openApiDocument(app);
  // Authorizations are not persisted: Swagger UI would keep the keys (the admin key too) in the origin's
  // localStorage, readable by any script of the origin and by the next person at the browser.
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}
