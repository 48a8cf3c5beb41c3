// The relay over real TLS (wss://) on loopback: a client that trusts the
// certificate pairs and forwards; one that does not is refused by TLS itself.
import { afterEach, beforeAll, expect, it } from 'vitest';
import { generateIdentity } from '../../../src/crypto/identity.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { RelayClient } from '../../../src/relay/client.js';
import { RelayServer } from '../../../src/relay/server.js';
import { loopbackCertificate } from './tls-cert.js';

let server: RelayServer | undefined;
const clients: RelayClient[] = [];

beforeAll(async () => {
  await sodiumReady();
});
afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  await server?.close();
});

it('serves wss:// with the given certificate, and pairs and forwards over it', async () => {
  const tls = await loopbackCertificate();
  server = new RelayServer({ listen: { host: '127.0.0.1', port: 0 }, tls });
  const { url } = await server.start();
  expect(url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);

  const ids = [await generateIdentity(), await generateIdentity()] as const;
  const a = await RelayClient.connect(url, ids[0], { ca: tls.cert });
  const b = await RelayClient.connect(url, ids[1], { ca: tls.cert });
  clients.push(a, b);
  const established = b.next('established', { timeoutMs: 5_000 });
  a.connectPeer(ids[1].publicKey, 0);
  b.connectPeer(ids[0].publicKey, 0);
  await established;
  const got = b.next('forward', { timeoutMs: 5_000 });
  a.forward(ids[1].publicKey, new Uint8Array([42]));
  expect([...(await got).payload]).toEqual([42]);

  // Without trusting the certificate, TLS refuses before any relay frame.
  await expect(RelayClient.connect(url, await generateIdentity())).rejects.toMatchObject({
    code: 'CONNECT_FAILED',
  });
});

it('refuses a certificate and key that do not belong together with TLS_CONFIG', async () => {
  const one = await loopbackCertificate();
  const two = await loopbackCertificate();
  server = new RelayServer({
    listen: { host: '127.0.0.1', port: 0 },
    tls: { cert: one.cert, key: two.key },
  });
  await expect(server.start()).rejects.toMatchObject({ code: 'TLS_CONFIG' });
});
