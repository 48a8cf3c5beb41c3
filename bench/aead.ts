// bench:aead — ChaCha20-Poly1305 (IETF, 12-byte nonce, 16-byte tag) seal and
// open per message, in libsodium-wrappers (wasm, what src/crypto uses today)
// and node:crypto (OpenSSL, native), on 1400-byte frames and 64 KiB
// super-frames, in alternating slices of the same run. Prints figures; never
// passes or fails on them.
//
//   npm run bench:aead [-- --seconds 0.5 --rounds 5 --sizes 1400,65536 --json]
//
// Each side does what a caller must per message: a fresh counter nonce,
// 14 bytes of associated data, encrypt, then decrypt and verify the tag.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sodiumReady } from '../src/crypto/sodium.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '0.5' },
    rounds: { type: 'string', default: '5' },
    sizes: { type: 'string', default: '1400,65536' },
    json: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const SIZES = values.sizes.split(',').map(Number);
const say = (line: string) => (values.json ? process.stderr.write(`${line}\n`) : console.log(line));

const sodium = await sodiumReady();
const key = randomBytes(32);
const ad = new Uint8Array(14);

/** Runs fn until `SECONDS` pass; returns calls per second. */
function measure(fn: () => void): number {
  for (let i = 0; i < 200; i++) fn(); // warm up
  let done = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(SECONDS * 1e9));
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 50; i++) fn();
    done += 50;
    now = process.hrtime.bigint();
  }
  return done / (Number(now - start) / 1e9);
}

function libsodiumRound(size: number): number {
  const plaintext = randomBytes(size);
  const nonce = new Uint8Array(12);
  const view = new DataView(nonce.buffer);
  let counter = 0;
  return measure(() => {
    view.setUint32(8, counter++);
    const sealed = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(
      plaintext,
      ad,
      null,
      nonce,
      key,
    );
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, sealed, ad, nonce, key);
  });
}

function nodeCryptoRound(size: number): number {
  const plaintext = randomBytes(size);
  const nonce = Buffer.alloc(12);
  const opened = Buffer.alloc(size);
  let counter = 0;
  return measure(() => {
    nonce.writeUInt32BE(counter++, 8);
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    cipher.setAAD(ad, { plaintextLength: size });
    const sealed = cipher.update(plaintext);
    cipher.final();
    const tag = cipher.getAuthTag();
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    decipher.setAAD(ad, { plaintextLength: size });
    decipher.setAuthTag(tag);
    const n = decipher.update(sealed).copy(opened);
    decipher.final(); // throws on a bad tag
    if (n !== size) throw new Error('short open');
  });
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const gbit = (ops: number, size: number) => (ops * size * 8) / 1e9;

const results: Record<string, unknown>[] = [];
say(
  `ChaCha20-Poly1305 seal+open, ${ROUNDS} alternating rounds of ${SECONDS} s (node ${process.version}, one core)`,
);
for (const size of SIZES) {
  const lib: number[] = [];
  const nat: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      lib.push(libsodiumRound(size));
      nat.push(nodeCryptoRound(size));
    } else {
      nat.push(nodeCryptoRound(size));
      lib.push(libsodiumRound(size));
    }
  }
  const l = median(lib);
  const n = median(nat);
  const row = {
    size,
    libsodiumOpsPerSec: Math.round(l),
    nodeCryptoOpsPerSec: Math.round(n),
    libsodiumGbps: Math.round(gbit(l, size) * 100) / 100,
    nodeCryptoGbps: Math.round(gbit(n, size) * 100) / 100,
    nodeCryptoOverLibsodium: Math.round((n / l) * 100) / 100,
    libsodiumUsPerMessage: Math.round((1e6 / l) * 100) / 100,
    nodeCryptoUsPerMessage: Math.round((1e6 / n) * 100) / 100,
  };
  results.push(row);
  say(
    `  ${String(size).padStart(6)} B: libsodium ${row.libsodiumGbps} Gbit/s (${row.libsodiumUsPerMessage} µs/msg), node:crypto ${row.nodeCryptoGbps} Gbit/s (${row.nodeCryptoUsPerMessage} µs/msg), ratio ${row.nodeCryptoOverLibsodium}`,
  );
}
if (values.json)
  process.stdout.write(`${JSON.stringify({ rounds: ROUNDS, seconds: SECONDS, results })}\n`);
