import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a server on loopback, for a connection that goes silent: `freeze()` stops every byte in
 * both directions while the sockets stay open (no FIN, no RST), as a stalled network path or intermediary does.
 * The client notices nothing but silence.
 */
export class TcpProxy {
  private frozen = false;
  private readonly pairs = new Set<[Socket, Socket]>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const proxy = new TcpProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client) => proxy.relay(client, connect(targetPort, '127.0.0.1')));
    return proxy;
  }

  /** Every open connection (and any new one) stops passing bytes, without being closed. */
  freeze(): void {
    this.frozen = true;
    for (const [client, target] of this.pairs) {
      client.unpipe(target).pause();
      target.unpipe(client).pause();
    }
  }

  /** Bytes flow again, what was held first. */
  thaw(): void {
    this.frozen = false;
    for (const [client, target] of this.pairs) {
      client.pipe(target);
      target.pipe(client);
    }
  }

  async close(): Promise<void> {
    const closed = new Promise((resolve) => this.server.close(resolve));
    for (const [client, target] of this.pairs) {
      client.destroy();
      target.destroy();
    }
    await closed;
  }

  private relay(client: Socket, target: Socket): void {
    const pair: [Socket, Socket] = [client, target];
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      target.destroy();
    };
    client.on('error', end).on('close', end);
    target.on('error', end).on('close', end);
    if (this.frozen) {
      client.pause();
      target.pause();
    } else {
      client.pipe(target);
      target.pipe(client);
    }
  }
}
