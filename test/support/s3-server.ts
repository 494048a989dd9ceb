import { CreateMultipartUploadCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The parts of fauxqs's own S3 state the helper reads: its table of multipart uploads in progress. */
interface FauxqsS3Store {
  createBucket(name: string): void;
  multipartUploads: Map<string, { uploadId: string; bucket: string; key: string; initiated: Date }>;
}

const FAUXQS_DIST = resolve(__dirname, '../../node_modules/fauxqs/dist');
const loadFauxqs = async <T>(file: string): Promise<T> =>
  (await import(pathToFileURL(resolve(FAUXQS_DIST, file)).href)) as T;

export const S3_TEST_BUCKET = 'venna-test';

export interface S3Request {
  method: string;
  key: string;
  /** The query's parameter names, e.g. ['partNumber', 'uploadId'] for UploadPart. */
  params: string[];
  /** What an UploadPartCopy copies (`x-amz-copy-source`, with its range): the store copies, no body is sent. */
  copySource?: string;
}

export interface S3TestServer {
  endpoint: string;
  bucket: string;
  /** The api's and worker's variables for this server (STORAGE_DRIVER=s3 and the S3_* settings). */
  env: Record<string, string>;
  /** A client of the test's own, to look into the bucket. */
  client: S3Client;
  /** Multipart uploads begun and neither completed nor aborted, by object key. */
  uploadsInProgress(): string[];
  /** Begins a multipart upload of `key` with one part and leaves it unfinished (what a killed process leaves). */
  beginUpload(key: string): Promise<void>;
  /** Moves the start of every upload in progress for `key` back to `initiated` (a write a killed process left long ago). */
  backdateUploads(key: string, initiated: Date): void;
  /** Every request the server has received, in order: what the driver asked of the store. */
  requests: S3Request[];
  /** Answers 503 SlowDown to every write of a key under `prefix` until the returned function is called. */
  refuseWrites(prefix: string): () => void;
  stop(): Promise<void>;
}

/**
 * A real S3-compatible server (fauxqs, in this process) on a free loopback port, with one bucket.
 * fauxqs implements every call the storage driver makes but ListMultipartUploads; that one is answered
 * here from fauxqs's own upload table, in the format S3 documents. `pageSize` caps every listing page,
 * so pagination is exercised with a handful of objects.
 */
export async function startS3Server(options: { pageSize?: number; prefix?: string } = {}): Promise<S3TestServer> {
  const { buildApp } = await loadFauxqs<{ buildApp: (options: object) => FastifyInstance }>('app.js');
  const { S3Store } = await loadFauxqs<{ S3Store: new () => FauxqsS3Store }>('s3/s3Store.js');
  const { SqsStore } = await loadFauxqs<{ SqsStore: new () => object }>('sqs/sqsStore.js');
  const { SnsStore } = await loadFauxqs<{ SnsStore: new () => object }>('sns/snsStore.js');
  const store = new S3Store();
  const refused = new Set<string>();
  const requests: S3Request[] = [];
  const app = buildApp({
    logger: false,
    stores: { s3Store: store, sqsStore: new SqsStore(), snsStore: new SnsStore() },
  });

  app.addHook('onRequest', async (request, reply) => {
    const url = new URL(request.url, 'http://s3');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const query = request.query as Record<string, string>;
    const copied = request.headers['x-amz-copy-source'];
    const range = request.headers['x-amz-copy-source-range'];
    requests.push({
      method: request.method,
      key,
      params: Object.keys(query).sort(),
      copySource:
        typeof copied === 'string' ? `${decodeURIComponent(copied)}${range ? ` ${String(range)}` : ''}` : undefined,
    });
    if (options.pageSize && 'max-keys' in query) {
      query['max-keys'] = String(Math.min(Number(query['max-keys']), options.pageSize));
    } else if (options.pageSize && request.method === 'GET' && key === '' && !('uploads' in query)) {
      query['max-keys'] = String(options.pageSize);
    }
    if ((request.method === 'PUT' || request.method === 'POST') && key && [...refused].some((p) => key.startsWith(p))) {
      return reply
        .status(503)
        .header('content-type', 'application/xml')
        .send(errorXml('SlowDown', 'Please reduce your request rate.'));
    }
    if (request.method === 'GET' && key === '' && 'uploads' in query) {
      return reply
        .header('content-type', 'application/xml')
        .send(listUploadsXml(store, bucket, query, options.pageSize ?? 1000));
    }
    return undefined;
  });

  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  store.createBucket(S3_TEST_BUCKET);
  const credentials = { accessKeyId: 'venna-test-key', secretAccessKey: 'venna-test-secret' };
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  const uploads = () => [...store.multipartUploads.values()].filter((upload) => upload.bucket === S3_TEST_BUCKET);

  return {
    endpoint,
    bucket: S3_TEST_BUCKET,
    env: {
      STORAGE_DRIVER: 's3',
      S3_BUCKET: S3_TEST_BUCKET,
      S3_REGION: 'us-east-1',
      S3_ENDPOINT: endpoint,
      S3_ACCESS_KEY_ID: credentials.accessKeyId,
      S3_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
      ...(options.prefix ? { S3_PREFIX: options.prefix } : {}),
    },
    client,
    beginUpload: async (key) => {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: S3_TEST_BUCKET, Key: key }));
      await client.send(
        new UploadPartCommand({ Bucket: S3_TEST_BUCKET, Key: key, UploadId, PartNumber: 1, Body: 'half of a write' }),
      );
    },
    uploadsInProgress: () => uploads().map((upload) => upload.key),
    requests,
    backdateUploads: (key, initiated) =>
      uploads()
        .filter((upload) => upload.key === key)
        .forEach((upload) => (upload.initiated = initiated)),
    refuseWrites: (prefix) => {
      refused.add(prefix);
      return () => refused.delete(prefix);
    },
    stop: async () => {
      client.destroy();
      await app.close();
    },
  };
}

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const errorXml = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`;

/** ListMultipartUploads as S3 answers it: uploads ordered by key then start, paged with key and upload-id markers. */
function listUploadsXml(store: FauxqsS3Store, bucket: string, query: Record<string, string>, cap: number): string {
  const prefix = query.prefix ?? '';
  const keyMarker = query['key-marker'] ?? '';
  const uploadIdMarker = query['upload-id-marker'] ?? '';
  const max = Math.min(Number(query['max-uploads'] ?? 1000), cap);
  const all = [...store.multipartUploads.values()]
    .filter((upload) => upload.bucket === bucket && upload.key.startsWith(prefix))
    .sort((a, b) => a.key.localeCompare(b.key) || a.initiated.getTime() - b.initiated.getTime())
    .filter((upload) =>
      !keyMarker ? true : upload.key > keyMarker || (upload.key === keyMarker && upload.uploadId > uploadIdMarker),
    );
  const page = all.slice(0, max);
  const truncated = all.length > page.length;
  const last = page[page.length - 1];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
    `<Bucket>${escapeXml(bucket)}</Bucket>`,
    `<KeyMarker>${escapeXml(keyMarker)}</KeyMarker>`,
    `<UploadIdMarker>${escapeXml(uploadIdMarker)}</UploadIdMarker>`,
    truncated ? `<NextKeyMarker>${escapeXml(last.key)}</NextKeyMarker>` : '',
    truncated ? `<NextUploadIdMarker>${escapeXml(last.uploadId)}</NextUploadIdMarker>` : '',
    `<Prefix>${escapeXml(prefix)}</Prefix>`,
    `<MaxUploads>${max}</MaxUploads>`,
    `<IsTruncated>${truncated}</IsTruncated>`,
    ...page.map(
      (upload) =>
        `<Upload><Key>${escapeXml(upload.key)}</Key><UploadId>${escapeXml(upload.uploadId)}</UploadId>` +
        `<StorageClass>STANDARD</StorageClass><Initiated>${upload.initiated.toISOString()}</Initiated></Upload>`,
    ),
    '</ListMultipartUploadsResult>',
  ].join('');
}
