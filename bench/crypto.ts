// Seal+open throughput of 1400-byte Ethernet frames through Session versus
// the bare libsodium AEAD calls on the same data, in the same run, and the
// time of one full version 2 handshake (INIT → RESP → promotion: timestamp,
// signatures, guard, key derivation, slots, keepalive). Prints figures; never
// passes or fails on them (tests assert behaviour, not speed).
//
//   npm run bench:crypto [-- --seconds 0.5 --rounds 10 --size 1400 --json]
//
// The machine is shared (other test suites may run at the same time), so raw
// and session runs alternate in short slices and the reported ratio is the
// median of the per-round ratios: noise hits both sides of each pair alike.
import { parseArgs } from 'node:util';
import {
  completeHandshake,
  Handshaker,
  initiateHandshake,
  respondToHandshake,
} from '../src/crypto/handshake.js';
import { generateIdentity } from '../src/crypto/identity.js';
import { Session } from '../src/crypto/session.js';
import { SessionSlots } from '../src/crypto/session-slots.js';
import { sodiumReady } from '../src/crypto/sodium.js';
import { TimestampClock } from '../src/crypto/timestamp.js';
import { decodeFrame, encodeFrame } from '../src/protocol/codec.js';
import type { HandshakeInit, HandshakeResp } from '../src/protocol/frames.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '0.5' },
    size: { type: 'string', default: '1400' },
    rounds: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const size = Number(values.size);
const rounds = Number(values.rounds);
// With --json the figures go to stdout as one object, the progress to stderr.
const say = (line: string) => (values.json ? process.stderr.write(`${line}\n`) : console.log(line));

const sodium = await sodiumReady();
const alice = await generateIdentity();
const bob = await generateIdentity();
const pending = initiateHandshake(alice, bob.publicKey);
const { resp, keys: bobKeys } = respondToHandshake(bob, alice.publicKey, pending.init);
const aliceKeys = completeHandshake(pending, resp);
const frame = sodium.randombytes_buf(size);

/** Runs fn in batches for `seconds`; returns operations per second. */
function measure(fn: () => void): number {
  const batch = 1000;
  for (let i = 0; i < batch; i++) fn(); // warm up
  let done = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < batch; i++) fn();
    done += batch;
    now = process.hrtime.bigint();
  }
  return done / (Number(now - start) / 1e9);
}

// Baseline: what any caller of libsodium must do at minimum for one frame —
// one encrypt with a 12-byte counter nonce and 14 bytes of associated data,
// one decrypt, on a fresh nonce each time.
function rawRound(): number {
  const key = aliceKeys.sendKey;
  const nonce = new Uint8Array(12);
  const view = new DataView(nonce.buffer);
  const ad = new Uint8Array(14);
  const plaintext = new Uint8Array(1 + size);
  plaintext.set(frame, 1);
  let counter = 0;
  return measure(() => {
    view.setUint32(8, counter++);
    const ct = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key);
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, ct, ad, nonce, key);
  });
}

// Ours: Session.sealEthernet → DATA frame bytes → Session.open (header parse,
// replay window, epoch key choice, AEAD, sealed-message decode).
function sessionRound(): number {
  const a = new Session(aliceKeys);
  const b = new Session(bobKeys);
  return measure(() => {
    b.open(a.sealEthernet(frame));
  });
}

const mbit = (ops: number) => ((ops * size * 8) / 1e6).toFixed(0);
say(
  `seal+open of ${size}-byte frames, ${rounds} alternating rounds of ${seconds}s each (node ${process.version})`,
);
const raw: number[] = [];
const ours: number[] = [];
const ratios: number[] = [];
for (let r = 0; r < rounds; r++) {
  // Alternate which side goes first, so neither always gets the warmer cache.
  let rawOps: number;
  let ourOps: number;
  if (r % 2 === 0) {
    rawOps = rawRound();
    ourOps = sessionRound();
  } else {
    ourOps = sessionRound();
    rawOps = rawRound();
  }
  raw.push(rawOps);
  ours.push(ourOps);
  ratios.push(ourOps / rawOps);
  say(
    `  round ${String(r + 1).padStart(2)}: libsodium ${rawOps.toFixed(0)}/s  session ${ourOps.toFixed(0)}/s  ratio ${(ourOps / rawOps).toFixed(3)}`,
  );
}
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const rawMedian = median(raw);
const oursMedian = median(ours);
const ratio = median(ratios);
say(
  `libsodium raw : ${rawMedian.toFixed(0)} seal+open/s median (${mbit(rawMedian)} Mbit/s of payload)`,
);
say(
  `session API   : ${oursMedian.toFixed(0)} seal+open/s median (${mbit(oursMedian)} Mbit/s of payload)`,
);
say(
  `ratio session/raw (median of rounds): ${ratio.toFixed(3)}  (overhead ${((1 / ratio - 1) * 100).toFixed(1)}%, target ≤ 20%)`,
);

// A full handshake as two peers run it (docs/protocol.md §6, §8), through the
// wire codec: a's INIT (clock, signature) → b verifies, checks the timestamp,
// answers, holds the session in next → a verifies RESP, makes it current,
// seals the keepalive → b opens it and promotes. Fresh peer state each time
// (first contact), so the per-peer guard never refuses.
const clock = new TimestampClock();
function handshakeOnce(): void {
  const a = new Handshaker(alice, bob.publicKey, { clock });
  const b = new Handshaker(bob, alice.publicKey);
  const slotsA = new SessionSlots();
  const slotsB = new SessionSlots();
  const init = decodeFrame(encodeFrame(a.start())) as HandshakeInit;
  const atB = b.receive(init);
  slotsB.installResponded(atB.keys!);
  const resp = decodeFrame(encodeFrame(atB.reply!)) as HandshakeResp;
  const { keepalive } = slotsA.installInitiated(a.receive(resp).keys!);
  if (!slotsB.open(keepalive).promoted) throw new Error('keepalive did not promote');
  slotsA.close();
  slotsB.close();
}

function handshakeRound(): number {
  for (let i = 0; i < 20; i++) handshakeOnce(); // warm up
  let done = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 20; i++) handshakeOnce();
    done += 20;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / 1e6 / done; // ms per handshake
}

const handshakeMs: number[] = [];
for (let r = 0; r < rounds; r++) handshakeMs.push(handshakeRound());
const hsMedian = median(handshakeMs);
say(
  `full handshake INIT → RESP → promotion: ${(hsMedian * 1000).toFixed(0)} µs median of ${rounds} rounds (${(1000 / hsMedian).toFixed(0)}/s on one core; min ${(Math.min(...handshakeMs) * 1000).toFixed(0)} µs, max ${(Math.max(...handshakeMs) * 1000).toFixed(0)} µs)`,
);
if (values.json) {
  process.stdout.write(
    `${JSON.stringify({
      size,
      rounds,
      seconds,
      libsodiumOpsPerSec: Math.round(rawMedian),
      sessionOpsPerSec: Math.round(oursMedian),
      sessionMbps: Math.round((oursMedian * size * 8) / 1e6),
      sessionOverLibsodium: Math.round(ratio * 1000) / 1000,
      handshakeMicros: Math.round(hsMedian * 1000),
    })}\n`,
  );
}
