// A relay that has served a pair and been closed leaves no socket, server or
// timer behind (wireguard-go's goroutineLeakCheck, for handles). Its own file:
// nothing else runs in this process while it counts.
import { beforeAll, expect, it } from 'vitest';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { assertForwards, pair, startRelay } from './helpers.js';

beforeAll(async () => {
  await sodiumReady();
});

/** Open handles by kind (TCP sockets and servers, timers), as Node reports them. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (/TCP|Timeout|Immediate/.test(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

/** Lets closing handles finish; the last setImmediate hop leaves no timer of its own listed. */
async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 200));
  await new Promise((resolve) => setImmediate(resolve));
}

it('leaves no sockets or timers behind after close()', async () => {
  await settle();
  const before = resources();
  const relay = await startRelay(
    { keepaliveIntervalMs: 50, authTimeoutMs: 60_000 },
    { metrics: true },
  );
  const { a, b } = await pair(relay.url);
  await assertForwards(a, b);
  await fetch(`${relay.address.metricsUrl}/metrics`);
  expect(resources().TCPServerWrap).toBeGreaterThan(before.TCPServerWrap ?? 0);
  await relay.server.close();
  await Promise.all([a.closed, b.closed]);
  await settle();
  expect(resources()).toEqual(before);
});
