import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

// The operator's window on a relay, on its own address so it can stay on
// loopback or a management network while the relay port faces the world:
//   GET /healthz  200 while serving: "ok", or "degraded" and why (a cluster
//                 relay cut off from NATS still serves its local peers);
//                 503 "shutting down" while stopping
//   GET /metrics  Prometheus text format from the relay's own registry

export interface Health {
  /** False only while stopping (503). */
  serving: boolean;
  /** "ok", "degraded", or "shutting down": the first line. */
  state: string;
  /** Further lines (why degraded, the cluster's view). */
  detail?: string;
}

export interface MetricsHttpOptions {
  registry: Registry;
  health: () => Health;
}

export function createMetricsServer({ registry, health }: MetricsHttpOptions): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      const { serving, state, detail } = health();
      res
        .writeHead(serving ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' })
        .end(`${state}\n${detail ? `${detail}\n` : ''}`);
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500).end(`metrics failed: ${String(error)}\n`),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
  });
}

export function boundUrl(server: Server, scheme: string): string {
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return `${scheme}://${host}:${port}`;
}
