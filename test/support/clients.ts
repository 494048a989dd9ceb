import OpenAI from 'openai';
import Redis from 'ioredis';
import { ADMIN_KEY, TEST_REDIS_URL } from './env';

export interface Tenant {
  workspaceId: string;
  key: string;
  keyId: string;
  client: OpenAI;
}

async function admin<T>(apiUrl: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  }
  return (await response.json()) as T;
}

export const adminRequest = admin;

/** A fresh workspace with its own key, and the official SDK pointed at the api with that key. */
export async function newTenant(
  apiUrl: string,
  name = `ws-${Math.random().toString(36).slice(2, 10)}`,
): Promise<Tenant> {
  const workspace = await admin<{ id: string }>(apiUrl, 'POST', '/admin/workspaces', { name });
  const key = await admin<{ id: string; key: string }>(
    apiUrl,
    'POST',
    `/admin/workspaces/${workspace.id}/api-keys`,
    {},
  );
  const client = new OpenAI({ baseURL: `${apiUrl}/v1`, apiKey: key.key, maxRetries: 0 });
  return { workspaceId: workspace.id, key: key.key, keyId: key.id, client };
}

/** Raw HTTP for what the SDK cannot send. */
export async function raw(
  apiUrl: string,
  path: string,
  init: RequestInit & { key?: string | null } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers = new Headers(init.headers);
  if (init.key) {
    headers.set('authorization', `Bearer ${init.key}`);
  }
  const response = await fetch(`${apiUrl}${path}`, { ...init, headers });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body, headers: response.headers };
}

/** POST a JSON body (or raw text, sent as is) with a key: for requests the SDK would refuse to build. */
export const postJson = (apiUrl: string, path: string, key: string, body: unknown) =>
  raw(apiUrl, path, {
    method: 'POST',
    key,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

export async function flushTestRedis(): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
  await redis.connect();
  await redis.flushdb();
  await redis.quit();
}

/** Asserts the OpenAI error envelope: all four keys, and the given status/param/fragment. */
export function expectEnvelope(
  result: { status: number; body: any },
  status: number,
  expected: { param?: string | null; message?: RegExp; code?: string | null; type?: string } = {},
): void {
  const problems: string[] = [];
  if (result.status !== status) {
    problems.push(`status ${result.status} != ${status}`);
  }
  const error = result.body?.error;
  if (!error || !['message', 'type', 'param', 'code'].every((k) => k in error)) {
    problems.push('envelope keys missing');
  }
  if (expected.param !== undefined && error?.param !== expected.param) {
    problems.push(`param ${error?.param} != ${expected.param}`);
  }
  if (expected.code !== undefined && error?.code !== expected.code) {
    problems.push(`code ${error?.code} != ${expected.code}`);
  }
  if (expected.type !== undefined && error?.type !== expected.type) {
    problems.push(`type ${error?.type} != ${expected.type}`);
  }
  if (expected.message && !expected.message.test(String(error?.message))) {
    problems.push(`message ${error?.message} !~ ${expected.message}`);
  }
  if (problems.length) {
    throw new Error(`${problems.join('; ')}\nbody: ${JSON.stringify(result.body)}`);
  }
}
