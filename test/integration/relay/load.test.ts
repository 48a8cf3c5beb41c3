// 2,000 authenticated connections held at once on loopback, and a pair among
// them still forwards. Bounded: connects in batches, gives up after 90 s.
import { setMaxListeners } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateIdentity } from '../../../src/crypto/identity.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { RelayClient } from '../../../src/relay/client.js';
import { assertForwards, pair, startRelay, type TestRelay } from './helpers.js';

const CONNECTIONS = 2_000;
const BATCH = 100;

let relay: TestRelay;
const clients: RelayClient[] = [];

beforeAll(async () => {
  await sodiumReady();
  relay = await startRelay({ maxConnections: CONNECTIONS + 10 });
});
afterAll(async () => {
  for (const client of clients.splice(0)) client.terminate();
  await relay.server.close();
});

it(`holds ${CONNECTIONS} authenticated connections and still forwards between a pair`, async () => {
  const signal = AbortSignal.timeout(90_000);
  setMaxListeners(BATCH * 2, signal); // each connect in a batch listens on it
  const { a, b } = await pair(relay.url);
  clients.push(a, b);
  while (clients.length < CONNECTIONS) {
    signal.throwIfAborted();
    const batch = Math.min(BATCH, CONNECTIONS - clients.length);
    const opened = await Promise.all(
      Array.from({ length: batch }, async () =>
        RelayClient.connect(relay.url, await generateIdentity(), { signal, timeoutMs: 30_000 }),
      ),
    );
    clients.push(...opened);
  }
  expect(relay.server.connectionCount).toBe(CONNECTIONS);
  expect(relay.server.directory.peerCount).toBe(CONNECTIONS);
  await assertForwards(a, b);
  // Every connection is still open: nothing was dropped to make room.
  expect(clients.every((client) => client.isOpen)).toBe(true);
}, 120_000);
