// A receiver that stops reading gets drops (counted), the relay's buffer for
// it stays bounded, and other pairs keep flowing meanwhile.
import { afterEach, beforeAll, expect, it } from 'vitest';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import type { RelayClient } from '../../../src/relay/client.js';
import { assertForwards, pair, startRelay, type TestRelay } from './helpers.js';

let relay: TestRelay;
const clients: RelayClient[] = [];

beforeAll(async () => {
  await sodiumReady();
});
afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  await relay.server.close();
});

it('drops frames for a receiver that does not read, without stalling anyone else', async () => {
  const cap = 64 * 1024;
  relay = await startRelay({ maxSendBufferBytes: cap });
  const slow = await pair(relay.url);
  const other = await pair(relay.url);
  clients.push(slow.a, slow.b, other.a, other.b);

  // b stops reading its socket: the kernel buffers fill, then the relay's.
  slow.b.pauseReading();
  const payload = new Uint8Array(1400);
  const deadline = Date.now() + 20_000;
  let sent = 0;
  // Bounded: stop as soon as drops show up, or after 40k frames / 20 s.
  while (!relay.server.stats.drops.get('receiver_buffer_full') && sent < 40_000) {
    if (Date.now() > deadline) break;
    for (let i = 0; i < 200; i++) slow.a.forward(slow.b.key, payload);
    sent += 200;
    // Let the sender's socket drain so the frames actually reach the relay.
    while (slow.a.bufferedAmount > 256 * 1024) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setImmediate(r));
  }
  expect(relay.server.stats.drops.get('receiver_buffer_full')).toBeGreaterThan(0);
  await assertForwards(other.a, other.b);
  expect(slow.a.isOpen && slow.b.isOpen).toBe(true);

  // Once b reads again it gets frames again.
  slow.b.resumeReading();
  const got = slow.b.next('forward', { timeoutMs: 10_000 });
  slow.a.forward(slow.b.key, payload);
  await got;
});
