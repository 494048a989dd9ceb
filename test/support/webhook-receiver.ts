import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { Webhook } from 'standardwebhooks';

export interface ReceivedWebhook {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: any;
  /** Whether the signature verified with the webhook's secret (standardwebhooks, as a customer would check it). */
  verified: boolean;
}

/** What the receiver does with a request: answer with this status, or `hang` (never answer). */
export type Answer = number | 'hang' | { redirectTo: string };

/**
 * A customer's webhook endpoint: a real HTTP server on a loopback port that records every request and
 * verifies its Standard Webhooks signature. Answers 200 unless told otherwise for the next requests.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  /** Set once the webhook is created (the secret is shown then). */
  secret = '';
  private readonly answers: Answer[] = [];
  private readonly hanging = new Set<ServerResponse>();
  private server?: Server;

  private constructor(private boundPort: number) {}

  get port(): number {
    return this.boundPort;
  }

  /** Listens at once (port 0 = any free port). */
  static async start(port = 0): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(port);
    return receiver.listen();
  }

  /** A receiver for a port nobody listens on yet: `listen()` brings it up. */
  static down(port: number): WebhookReceiver {
    return new WebhookReceiver(port);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/venna`;
  }

  /** Answers for the next requests, in order; afterwards 200. */
  answerNext(...answers: Answer[]): void {
    this.answers.push(...answers);
  }

  async listen(): Promise<this> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.received.push({
          at: Date.now(),
          headers: request.headers,
          body,
          json: parse(body),
          verified: this.verify(body, request.headers),
        });
        const answer = this.answers.shift() ?? 200;
        if (answer === 'hang') {
          this.hanging.add(response);
        } else if (typeof answer === 'object') {
          response.writeHead(302, { location: answer.redirectTo }).end();
        } else {
          response.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'no');
        }
      });
    });
    server.listen(this.boundPort, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    this.boundPort = (server.address() as { port: number }).port;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) {
      return;
    }
    this.server = undefined;
    this.hanging.clear();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  private verify(body: string, headers: IncomingHttpHeaders): boolean {
    try {
      new Webhook(this.secret).verify(body, {
        'webhook-id': String(headers['webhook-id']),
        'webhook-timestamp': String(headers['webhook-timestamp']),
        'webhook-signature': String(headers['webhook-signature']),
      });
      return true;
    } catch {
      return false;
    }
  }
}

function parse(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
