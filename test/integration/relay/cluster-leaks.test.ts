// Two clustered relays that have paired peers across NATS, closed, leave no
// socket or timer behind: the NATS connection, its pings and reconnects, the
// heartbeat and the sweep all end with close(). Its own file, as leaks.test.ts.
import { beforeAll, expect, it } from 'vitest';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import type { ClusterDirectory } from '../../../src/relay/cluster/cluster-directory.js';
import { RelayServer } from '../../../src/relay/server.js';
import { startNats } from '../../support/nats-server.js';
import { numberedStream, pairAcross, peerOn, waitFor } from './cluster-helpers.js';

beforeAll(async () => {
  await sodiumReady();
});

function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (/TCP|Timeout|Immediate/.test(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 300));
  await new Promise((resolve) => setImmediate(resolve));
}

it('leaves no sockets or timers behind after close(), even after an outage of NATS', async () => {
  const nats = await startNats();
  try {
    await settle();
    const before = resources();
    const servers = ['r1', 'r2'].map(
      (name) =>
        new RelayServer({
          listen: { host: '127.0.0.1', port: 0 },
          metrics: { host: '127.0.0.1', port: 0 },
          cluster: { servers: [nats.url], name },
        }),
    );
    const [u1, u2] = await Promise.all(servers.map((server) => server.start()));
    const dirs = servers.map((server) => server.directory as ClusterDirectory);
    await waitFor('relays heard', () => dirs.every((d) => d.presence.relayCount === 1));
    const a = await peerOn(u1!.url);
    const b = await peerOn(u2!.url);
    await pairAcross(a, b);
    expect((await numberedStream(a, b, 1, 200)).lost).toBe(0);
    // An outage: the client reconnects on its own timers, which must end too.
    nats.pause();
    await new Promise((resolve) => setTimeout(resolve, 200));
    nats.resume();
    await Promise.all(servers.map((server) => server.close()));
    await Promise.all([a.client.closed, b.client.closed]);
    await settle();
    expect(resources()).toEqual(before);
  } finally {
    await nats.kill();
  }
});

it('leaves nothing behind after close() of a relay that never reached NATS', async () => {
  await settle();
  const before = resources();
  // A port nothing listens on: the relay serves alone and keeps trying.
  const server = new RelayServer({
    listen: { host: '127.0.0.1', port: 0 },
    cluster: { servers: ['nats://127.0.0.1:9'], name: 'lonely' },
  });
  await server.start();
  await new Promise((resolve) => setTimeout(resolve, 1_200)); // a few reconnect attempts
  expect((server.directory as ClusterDirectory).backplane.up).toBe(false);
  await server.close();
  await settle();
  expect(resources()).toEqual(before);
});
