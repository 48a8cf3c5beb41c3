/**
 * A direct path that fails its proof never carries traffic: a certificate
 * for the wrong key (an impostor behind the peer's address) ends in
 * CERT_MISMATCH, a wrong re-handshake MAC in HMAC_MISMATCH; frames stay on
 * the relay and arrive.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTlsCredentials } from '../../../src/crypto/certificate.js';
import { generateIdentity } from '../../../src/crypto/identity.js';
import type { ConnectionTimings } from '../../../src/machines/connection-timings.js';
import { DirectListener } from '../../../src/services/direct-listener.js';
import type { LoopbackCluster } from '../../../src/testing/loopback-cluster.js';
import { useLoopbackCluster } from '../../support/loopback.js';
import { tamperedProofs, wrongMac } from '../../support/peer-charts.js';
import { startStream } from './numbered-stream.js';

const timings: Partial<ConnectionTimings> = {
  heartbeatIntervalMs: 50,
  suspectIntervalMs: 200,
  deadIntervalMs: 600,
  connectTimeoutMs: 800,
  dialDelayMs: 50,
  retry: { baseMs: 200, capMs: 400, jitter: 0.2 },
};

async function relayCarriesEverything(cluster: LoopbackCluster) {
  const relayBefore = cluster.status('b').paths.relay.framesReceived;
  const stream = startStream(cluster, { everyMs: 2 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const tally = await stream.stop();
  expect(tally.lost(stream.sent)).toBe(0);
  expect(tally.duplicated).toBe(0);
  expect(tally.reordered).toBe(0);
  expect(cluster.status('b').paths.relay.framesReceived - relayBefore).toBeGreaterThanOrEqual(
    stream.sent,
  );
}

describe('failover: an upgrade that fails its proof', () => {
  const startCluster = useLoopbackCluster();
  let impostor: DirectListener | undefined;
  afterEach(async () => {
    await impostor?.close();
    impostor = undefined;
  });

  it('a certificate for the wrong key: CERT_MISMATCH recorded, traffic stays on the relay', async () => {
    const cluster = await startCluster({ timings, smallerKey: 'a' });
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    // Behind b's address now answers a listener with another identity, and
    // b cannot reach a: a's own dial is the only way to a direct path.
    const other = await generateIdentity();
    impostor = await DirectListener.open({
      host: '127.0.0.1',
      port: 0,
      credentials: await createTlsCredentials(other),
      authorised: [cluster.identities.a.publicKey],
    });
    cluster.proxy.redirect('aToB', impostor.port);
    await cluster.proxy.set('bToA', { kind: 'refuse' });
    await cluster.proxy.set('aToB', { kind: 'reset' }); // the working link dies
    await cluster.proxy.set('aToB', { kind: 'pass' });
    const a = await cluster.waitFor('a', (p) => p.reason === 'CERT_MISMATCH', 10_000);
    expect(a.path).toBe('relay');
    await relayCarriesEverything(cluster);
    expect(cluster.status('a').state).not.toMatch(/^usingDirect/);
  });

  it('a wrong re-handshake MAC: HMAC_MISMATCH recorded, traffic stays on the relay', async () => {
    const proofsOfB = tamperedProofs();
    const cluster = await startCluster({
      timings,
      smallerKey: 'a',
      startChart: { b: proofsOfB.startChart },
    });
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    const upgrades = cluster.status('a').upgrades;
    // b's proof frames carry a wrong MAC from now on (a is the dialer, so it
    // checks b's RESPONSE).
    proofsOfB.tamper = wrongMac;
    await cluster.proxy.set('both', { kind: 'reset' });
    await cluster.proxy.set('both', { kind: 'pass' });
    const a = await cluster.waitFor('a', (p) => p.reason === 'HMAC_MISMATCH', 10_000);
    expect(a.path).toBe('relay');
    await relayCarriesEverything(cluster);
    expect(cluster.status('a').upgrades).toBe(upgrades);
  });
});
