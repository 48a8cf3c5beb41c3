// INIT timestamps (docs/protocol.md §6.3) and the initiator's clock that
// never goes back: not with a wall clock stepped backwards, not across
// restarts (the reservation in the state file next to the key file).
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  compareTimestamps,
  FileTimestampStore,
  MemoryTimestampStore,
  nextTick,
  TAI64_BASE,
  TIMESTAMP_WHITENER_MASK,
  TimestampClock,
  tai64n,
  timestampFileFor,
  timestampToUnixMs,
} from '../../../src/crypto/timestamp.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const nanosOf = (ts: Uint8Array) => new DataView(ts.buffer, ts.byteOffset).getUint32(8);

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchback-ts-'));
  dirs.push(dir);
  return dir;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('TAI64N', () => {
  it('encodes as docs/protocol.md §6.3 writes it', () => {
    expect(TAI64_BASE).toBe(0x400000000000000an);
    expect(hex(tai64n(0))).toBe('400000000000000a' + '00000000');
    // 1.5 s: nanoseconds 500 000 000 = 0x1dcd6500, whitened to 0x1d000000.
    expect(hex(tai64n(1500))).toBe('400000000000000b' + '1d000000');
    expect(timestampToUnixMs(tai64n(1_700_000_000_000))).toBe(1_700_000_000_000);
  });

  it('never reveals the low 24 bits of the nanoseconds, and keeps order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 43 }),
        fc.integer({ min: 0, max: 2 ** 43 }),
        (a, b) => {
          expect(nanosOf(tai64n(a)) & TIMESTAMP_WHITENER_MASK).toBe(0);
          if (a <= b) expect(compareTimestamps(tai64n(a), tai64n(b))).toBeLessThanOrEqual(0);
          // Within one whitened step (~16.8 ms) two times look the same.
          if (Math.abs(a - b) >= 17) {
            expect(Math.sign(compareTimestamps(tai64n(a), tai64n(b)))).toBe(Math.sign(a - b));
          }
        },
      ),
    );
  });

  it('nextTick is the smallest step up, carrying into the seconds', () => {
    const ts = tai64n(999); // nanos 989 855 744, the last whitened step of a second
    expect(nanosOf(ts)).toBe(59 * 2 ** 24);
    const next = nextTick(ts);
    expect(compareTimestamps(next, ts)).toBeGreaterThan(0);
    expect(hex(next)).toBe('400000000000000b' + '00000000');
    expect(nanosOf(nextTick(tai64n(0)))).toBe(2 ** 24);
  });
});

describe('TimestampClock', () => {
  it('is strictly increasing even when the wall clock stands still or steps back', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -7200_000, max: 7200_000 }), { minLength: 1, maxLength: 80 }),
        fc.array(fc.boolean(), { maxLength: 80 }),
        (steps, restarts) => {
          const store = new MemoryTimestampStore();
          let wall = 1_700_000_000_000;
          let clock = new TimestampClock({ store, wallClock: () => wall });
          let last: Uint8Array | undefined;
          steps.forEach((step, i) => {
            wall += step;
            if (restarts[i]) clock = new TimestampClock({ store, wallClock: () => wall });
            const ts = clock.next();
            if (last) expect(compareTimestamps(ts, last)).toBeGreaterThan(0);
            expect(nanosOf(ts) & TIMESTAMP_WHITENER_MASK).toBe(0);
            last = ts;
          });
        },
      ),
    );
  });

  it('follows the wall clock when it moves forward', () => {
    let wall = 1_700_000_000_000;
    const clock = new TimestampClock({ wallClock: () => wall });
    clock.next();
    wall += 60_000;
    expect(timestampToUnixMs(clock.next())).toBe(wall);
  });

  it('writes its reservation about once a lease, not once per INIT', () => {
    const store = new MemoryTimestampStore();
    let wall = 1_700_000_000_000;
    const clock = new TimestampClock({ store, wallClock: () => wall, leaseMs: 60_000 });
    for (let i = 0; i < 1000; i++) {
      clock.next();
      wall += 50; // 1000 INITs over 50 s: within one lease
    }
    expect(store.saves).toBe(1);
    wall += 60_000;
    clock.next();
    expect(store.saves).toBe(2);
    // The reservation is always at or beyond what was handed out.
    expect(compareTimestamps(store.saved!, clock.last!)).toBeGreaterThanOrEqual(0);
  });

  it('survives a restart in its state file next to the key file, clock stepped back', async () => {
    const dir = await tempDir();
    const keyFile = join(dir, 'node.key');
    let wall = 1_700_000_000_000;
    const first = TimestampClock.forKeyFile(keyFile, { wallClock: () => wall });
    const before = first.next();
    const path = timestampFileFor(keyFile);
    expect(path).toBe(`${keyFile}.timestamp`);
    const text = await readFile(path, 'utf8');
    expect(text).toMatch(/^switchback-timestamp-v1\n[0-9a-f]{24}\n$/);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    wall -= 3600_000; // the machine's clock was an hour fast; corrected while down
    const second = TimestampClock.forKeyFile(keyFile, { wallClock: () => wall });
    expect(compareTimestamps(second.next(), before)).toBeGreaterThan(0);
  });

  it('refuses a corrupt state file with STATE_FILE_FORMAT, naming it', async () => {
    const dir = await tempDir();
    const path = join(dir, 'node.key.timestamp');
    await writeFile(path, 'switchback-timestamp-v1\nnot hex\n');
    expect(codeOf(() => new TimestampClock({ store: new FileTimestampStore(path) }))).toBe(
      'STATE_FILE_FORMAT',
    );
  });

  it('refuses to hand out a timestamp it cannot save (STATE_FILE_IO)', async () => {
    const dir = await tempDir();
    const clock = new TimestampClock({
      store: new FileTimestampStore(join(dir, 'missing-dir', 'node.key.timestamp')),
    });
    expect(codeOf(() => clock.next())).toBe('STATE_FILE_IO');
    expect(clock.last).toBeUndefined();
  });
});
