// The direct path's TLS credentials: a self-signed X.509 certificate of the
// node's own Ed25519 identity key, and the pin check that replaces CA trust
// (docs/protocol.md §10). Peers are authorised by public key, as WireGuard
// does, so the certificate is only a carrier for the key: TLS 1.3's
// CertificateVerify proves the far end holds the private key of the key in
// its certificate, and we compare that key with the one we pinned. Validity
// dates, names and the self-signature are deliberately not what we trust.
//
// Checked on Node 20.20 (test/unit/crypto/certificate.test.ts and
// test/integration/direct/): TLS 1.3 accepts self-signed Ed25519 certificates
// in BOTH directions (server certificate and client certificate), with
// `rejectUnauthorized: false`; the handshake completes with
// authorizationError DEPTH_ZERO_SELF_SIGNED_CERT, which we ignore on purpose,
// and `getPeerX509Certificate().publicKey` is an 'ed25519' KeyObject.
import 'reflect-metadata'; // @peculiar/x509 (tsyringe) needs it loaded first
import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  type X509Certificate as NodeX509Certificate,
  timingSafeEqual,
  webcrypto,
} from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { KeyFormatError } from './errors.js';
import { type Identity, PUBLIC_KEY_BYTES, SECRET_KEY_BYTES, SEED_BYTES } from './identity.js';

/** PEM certificate and PEM PKCS#8 private key, as node:tls takes them. */
export interface TlsCredentials {
  cert: string;
  key: string;
}

// DER prefixes for Ed25519 (RFC 8410): PKCS#8 PrivateKeyInfo wrapping a
// 32-byte seed, and SubjectPublicKeyInfo wrapping a 32-byte public key.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

// Ten years: the certificate never expires in practice because its dates are
// not checked (see top); a sane window keeps other tools from choking on it.
const VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000;
const BACKDATE_MS = 24 * 3600 * 1000; // tolerate clock skew for tools that do check

let providerSet = false;
type X509Keys = x509.X509CertificateCreateSelfSignedParams['keys'];

/** The node's identity key as a Node KeyObject (private, Ed25519). */
export function identityPrivateKey(identity: Identity): KeyObject {
  return createPrivateKey({ key: pkcs8FromIdentity(identity), format: 'der', type: 'pkcs8' });
}

/**
 * A self-signed certificate of `identity`'s Ed25519 key, for both ends of a
 * mutual-TLS direct link. Costs ~1 ms; make it once per process.
 */
export async function createTlsCredentials(identity: Identity): Promise<TlsCredentials> {
  if (!providerSet) {
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    providerSet = true;
  }
  const pkcs8 = pkcs8FromIdentity(identity);
  const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  if (!timingSafeEqual(spki.subarray(SPKI_ED25519_PREFIX.length), identity.publicKey)) {
    // A seed that does not give the stated public key would make a
    // certificate the peers pin under the wrong name.
    throw new KeyFormatError('identity secret key does not match its public key');
  }
  const algorithm = { name: 'Ed25519' };
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', spki, algorithm, true, ['verify']);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    // Positive (leading 01) and stable per key; nothing relies on it.
    serialNumber: `01${Buffer.from(identity.publicKey.subarray(0, 7)).toString('hex')}`,
    name: 'CN=switchback',
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + VALIDITY_MS),
    signingAlgorithm: algorithm,
    keys: { privateKey, publicKey } as unknown as X509Keys,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  return {
    cert: certificate.toString('pem'),
    key: key.export({ format: 'pem', type: 'pkcs8' }) as string,
  };
}

/**
 * The raw 32-byte Ed25519 public key inside a peer certificate, or undefined
 * when the certificate carries any other kind of key (RSA, ECDSA, …).
 */
export function certificatePublicKey(
  certificate: NodeX509Certificate | undefined,
): Uint8Array | undefined {
  if (certificate === undefined) return undefined;
  const key = certificate.publicKey;
  if (key.asymmetricKeyType !== 'ed25519') return undefined;
  const spki = key.export({ format: 'der', type: 'spki' });
  if (
    spki.length !== SPKI_ED25519_PREFIX.length + PUBLIC_KEY_BYTES ||
    !spki.subarray(0, SPKI_ED25519_PREFIX.length).equals(SPKI_ED25519_PREFIX)
  ) {
    return undefined;
  }
  return new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX.length));
}

/**
 * True when the peer certificate carries exactly the pinned Ed25519 key.
 * Constant time in the key bytes: the pin is not secret, but the habit is
 * cheap and keeps this safe to reuse for anything that is.
 */
export function certificateMatchesKey(
  certificate: NodeX509Certificate | undefined,
  pinnedKey: Uint8Array,
): boolean {
  const key = certificatePublicKey(certificate);
  if (key === undefined || pinnedKey.length !== PUBLIC_KEY_BYTES) return false;
  return timingSafeEqual(key, pinnedKey);
}

function pkcs8FromIdentity(identity: Identity): Buffer {
  if (identity.secretKey.length !== SECRET_KEY_BYTES) {
    throw new KeyFormatError(
      `secret key must be ${SECRET_KEY_BYTES} bytes, got ${identity.secretKey.length}`,
    );
  }
  if (identity.publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new KeyFormatError(
      `public key must be ${PUBLIC_KEY_BYTES} bytes, got ${identity.publicKey.length}`,
    );
  }
  // libsodium's secret key is seed || public key; PKCS#8 wants the seed.
  return Buffer.concat([PKCS8_ED25519_PREFIX, identity.secretKey.subarray(0, SEED_BYTES)]);
}
