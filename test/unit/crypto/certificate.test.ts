import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  certificateMatchesKey,
  certificatePublicKey,
  createTlsCredentials,
} from '../../../src/crypto/certificate.js';
import { generateIdentity, type Identity } from '../../../src/crypto/identity.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';

let alice: Identity;
let bob: Identity;

beforeAll(async () => {
  await sodiumReady();
  alice = await generateIdentity();
  bob = await generateIdentity();
});

describe('createTlsCredentials', () => {
  it('makes a self-signed certificate of the identity key', async () => {
    const { cert, key } = await createTlsCredentials(alice);
    expect(key).toContain('BEGIN PRIVATE KEY');
    const parsed = new X509Certificate(cert);
    expect(parsed.publicKey.asymmetricKeyType).toBe('ed25519');
    expect(certificatePublicKey(parsed)).toEqual(alice.publicKey);
    expect(parsed.verify(parsed.publicKey)).toBe(true); // self-signed
    // node:tls takes the pair as is (this throws on a key/cert mismatch).
    expect(() => tls.createSecureContext({ cert, key })).not.toThrow();
  });

  it('refuses an identity whose secret key is not its public key', async () => {
    const mixed = { publicKey: bob.publicKey, secretKey: alice.secretKey };
    await expect(createTlsCredentials(mixed)).rejects.toMatchObject({ code: 'KEY_FORMAT' });
    const short = { publicKey: alice.publicKey, secretKey: alice.secretKey.subarray(0, 32) };
    await expect(createTlsCredentials(short)).rejects.toMatchObject({ code: 'KEY_FORMAT' });
  });
});

describe('certificateMatchesKey', () => {
  it('matches only the pinned key', async () => {
    const cert = new X509Certificate((await createTlsCredentials(alice)).cert);
    expect(certificateMatchesKey(cert, alice.publicKey)).toBe(true);
    expect(certificateMatchesKey(cert, bob.publicKey)).toBe(false);
    expect(certificateMatchesKey(cert, alice.publicKey.subarray(0, 31))).toBe(false);
    expect(certificateMatchesKey(undefined, alice.publicKey)).toBe(false);
  });

  it('finds no Ed25519 key in a certificate of another key type', async () => {
    // A P-256 certificate made the same way the peers' are, to feed the parser.
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    const { webcrypto } = await import('node:crypto');
    const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
    const ecdsa = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=other',
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 86_400_000),
      signingAlgorithm: algorithm,
      keys: keys as unknown as Parameters<
        typeof x509.X509CertificateGenerator.createSelfSigned
      >[0]['keys'],
    });
    const cert = new X509Certificate(ecdsa.toString('pem'));
    expect(certificatePublicKey(cert)).toBeUndefined();
    expect(certificateMatchesKey(cert, alice.publicKey)).toBe(false);
  });
});

describe('TLS 1.3 with self-signed Ed25519 certificates (the design assumption)', () => {
  it('completes mutual TLS both ways and each end sees the other key', async () => {
    const server = await createTlsCredentials(alice);
    const client = await createTlsCredentials(bob);
    const seen: { server?: Uint8Array; client?: Uint8Array; protocol?: string | null } = {};
    const srv = tls.createServer(
      { ...server, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' },
      (socket) => {
        seen.client = certificatePublicKey(socket.getPeerX509Certificate());
        socket.end('ok');
      },
    );
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as { port: number }).port;
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect(
        { host: '127.0.0.1', port, ...client, rejectUnauthorized: false, minVersion: 'TLSv1.3' },
        () => {
          seen.server = certificatePublicKey(socket.getPeerX509Certificate());
          seen.protocol = socket.getProtocol();
        },
      );
      let data = '';
      socket.on('data', (chunk) => {
        data += chunk;
      });
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    expect(reply).toBe('ok');
    expect(seen.protocol).toBe('TLSv1.3');
    expect(seen.server).toEqual(alice.publicKey);
    expect(seen.client).toEqual(bob.publicKey);
  });
});
