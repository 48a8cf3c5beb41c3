// Shared fixtures for the direct-path tests: real identities, real TLS
// credentials, a closed loopback port, and the open-handle leak check.
import net, { type AddressInfo } from 'node:net';
import { afterEach, beforeEach, expect } from 'vitest';
import { createTlsCredentials, type TlsCredentials } from '../../../src/crypto/certificate.js';
import { compareKeys, generateIdentity, type Identity } from '../../../src/crypto/identity.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';

export interface TestNode {
  identity: Identity;
  key: Uint8Array;
  credentials: TlsCredentials;
}

export async function makeNode(): Promise<TestNode> {
  await sodiumReady();
  const identity = await generateIdentity();
  return { identity, key: identity.publicKey, credentials: await createTlsCredentials(identity) };
}

/** Two nodes, the one with the smaller key first. */
export async function orderedPair(): Promise<[TestNode, TestNode]> {
  const a = await makeNode();
  const b = await makeNode();
  return compareKeys(a.key, b.key) < 0 ? [a, b] : [b, a];
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

const WATCHED = ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'];

/** Counts of the handle kinds a leaked socket, server or timer shows up as. */
export function handleCounts(): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(WATCHED.map((k) => [k, 0]));
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind in counts) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

/** Waits (bounded) until no more handles are open than in `before`, then asserts it. */
export async function expectNoLeaks(before: Record<string, number>): Promise<void> {
  const deadline = Date.now() + 3000;
  let now = handleCounts();
  while (Date.now() < deadline && WATCHED.some((k) => (now[k] ?? 0) > (before[k] ?? 0))) {
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 20));
    now = handleCounts();
  }
  for (const kind of WATCHED)
    expect(now[kind], `open ${kind} handles`).toBeLessThanOrEqual(before[kind] ?? 0);
}

/**
 * The leak check around every test of the calling file: returns the list the
 * tests push their cleanups to; after each test they run (last first), then
 * no more sockets, servers or timers may be open than before it.
 */
export function leakCheckedCleanups(): (() => Promise<void> | void)[] {
  const cleanups: (() => Promise<void> | void)[] = [];
  let before: Record<string, number> = {};
  beforeEach(() => {
    before = handleCounts();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await expectNoLeaks(before);
  });
  return cleanups;
}
