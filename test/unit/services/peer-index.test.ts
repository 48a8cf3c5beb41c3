// PeerIndex: peers by raw 32-byte key, bucketed by the key's first four bytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PeerIndex } from '../../../src/services/peer-index.js';

/** A 32-byte key: `prefix` in its first four bytes, `tail` in the last one. */
function key(prefix: number, tail: number): Uint8Array {
  const k = new Uint8Array(32);
  new DataView(k.buffer).setUint32(0, prefix >>> 0);
  k[31] = tail;
  return k;
}

describe('PeerIndex', () => {
  it('finds a value by an equal key that is a different buffer', () => {
    const index = new PeerIndex<string>();
    index.set(key(0x01020304, 1), 'alice');
    expect(index.get(key(0x01020304, 1))).toBe('alice');
    expect(index.get(key(0x01020304, 2))).toBeUndefined();
    expect(index.get(key(0x01020305, 1))).toBeUndefined();
  });

  it('keeps keys that share the 4-byte prefix apart', () => {
    const index = new PeerIndex<string>();
    index.set(key(0xdeadbeef, 1), 'one');
    index.set(key(0xdeadbeef, 2), 'two');
    index.set(key(0xdeadbeef, 3), 'three');
    expect(index.get(key(0xdeadbeef, 1))).toBe('one');
    expect(index.get(key(0xdeadbeef, 2))).toBe('two');
    expect(index.get(key(0xdeadbeef, 3))).toBe('three');

    index.delete(key(0xdeadbeef, 2));
    expect(index.get(key(0xdeadbeef, 2))).toBeUndefined();
    expect(index.get(key(0xdeadbeef, 1))).toBe('one');
    expect(index.get(key(0xdeadbeef, 3))).toBe('three');
  });

  it('set() on a known key replaces the value and keeps one entry', () => {
    const index = new PeerIndex<string>();
    index.set(key(7, 1), 'old');
    index.set(key(7, 1), 'new');
    expect(index.get(key(7, 1))).toBe('new');
    // One delete removes it: there was no second, stale entry.
    index.delete(key(7, 1));
    expect(index.get(key(7, 1))).toBeUndefined();
  });

  it('a prefix with the top bit set (u32, not a negative int) works', () => {
    const index = new PeerIndex<number>();
    index.set(key(0xffffffff, 0), 1);
    index.set(key(0x80000000, 0), 2);
    expect(index.get(key(0xffffffff, 0))).toBe(1);
    expect(index.get(key(0x80000000, 0))).toBe(2);
  });

  it('keeps its own copy of the key: the caller may reuse its buffer', () => {
    const index = new PeerIndex<string>();
    const buffer = key(0x11111111, 1);
    index.set(buffer, 'alice');
    // The caller overwrites its buffer (a reused read buffer would): same prefix, other key.
    buffer[31] = 9;
    expect(index.get(key(0x11111111, 1))).toBe('alice');
    expect(index.get(buffer)).toBeUndefined();
  });

  it('a lookup key is only read, not kept (a view into a larger frame works)', () => {
    const index = new PeerIndex<string>();
    index.set(key(0x0a0b0c0d, 5), 'bob');
    const frame = new Uint8Array(2 + 32 + 10);
    frame.set(key(0x0a0b0c0d, 5), 2);
    expect(index.get(frame.subarray(2, 34))).toBe('bob');
  });

  it('a key shorter than four bytes finds nothing and does not throw', () => {
    const index = new PeerIndex<string>();
    index.set(key(0, 0), 'zero');
    expect(index.get(new Uint8Array(3))).toBeUndefined();
    expect(index.get(new Uint8Array(0))).toBeUndefined();
  });

  it('deleting an unknown key changes nothing', () => {
    const index = new PeerIndex<string>();
    index.set(key(1, 1), 'a');
    index.delete(key(1, 2));
    index.delete(key(2, 1));
    expect(index.get(key(1, 1))).toBe('a');
  });

  it('agrees with a Map keyed by hex for any sequence of set/delete', () => {
    // Few distinct prefixes and tails, so collisions within a bucket are common.
    const op = fc.record({
      del: fc.boolean(),
      prefix: fc.constantFrom(0, 1, 0xffffffff),
      tail: fc.integer({ min: 0, max: 3 }),
      value: fc.integer(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const index = new PeerIndex<number>();
        const model = new Map<string, number>();
        for (const { del, prefix, tail, value } of ops) {
          const k = key(prefix, tail);
          const hex = Buffer.from(k).toString('hex');
          if (del) {
            index.delete(k);
            model.delete(hex);
          } else {
            index.set(k, value);
            model.set(hex, value);
          }
        }
        for (const prefix of [0, 1, 0xffffffff]) {
          for (let tail = 0; tail <= 3; tail++) {
            const hex = Buffer.from(key(prefix, tail)).toString('hex');
            expect(index.get(key(prefix, tail))).toBe(model.get(hex));
          }
        }
      }),
    );
  });
});
