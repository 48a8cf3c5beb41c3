import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PeerGoneReason } from '../../../../src/protocol/frames.js';
import {
  type ClusterBody,
  ClusterMessageType,
  decodeClusterMessage,
  encodeClusterMessage,
  WantFlag,
} from '../../../../src/relay/cluster/cluster-wire.js';
import { ClusterError } from '../../../../src/relay/cluster/errors.js';

const sender = { name: 'relay-1', instance: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) };
const key = (n: number) => new Uint8Array(32).fill(n);

const bodies: ClusterBody[] = [
  { type: ClusterMessageType.HEARTBEAT, seq: 4_000_000_000, peers: 12 },
  { type: ClusterMessageType.ADD, seq: 1, key: key(1), stamp: 1_754_000_000_123 },
  {
    type: ClusterMessageType.REMOVE,
    seq: 2,
    key: key(2),
    stamp: Number.MAX_SAFE_INTEGER,
    reason: PeerGoneReason.REPLACED,
  },
  { type: ClusterMessageType.BYE },
  { type: ClusterMessageType.SYNC_REQUEST },
  {
    type: ClusterMessageType.SYNC,
    seq: 9,
    chunk: 1,
    last: true,
    entries: [
      { key: key(3), stamp: 5 },
      { key: key(4), stamp: 6 },
    ],
  },
  {
    type: ClusterMessageType.WANT,
    from: key(5),
    fromStamp: 77,
    to: key(6),
    listenPort: 7443,
    flags: WantFlag.NEW_CONNECT | WantFlag.ECHO,
    observed: { family: 4, host: '127.0.0.1', port: 40_000 },
  },
  {
    type: ClusterMessageType.WANT,
    from: key(5),
    fromStamp: 77,
    to: key(6),
    listenPort: 0,
    flags: 0,
    observed: { family: 6, host: '::1', port: 1 },
  },
  { type: ClusterMessageType.LOCATE, key: key(7) },
  { type: ClusterMessageType.LOCATED, key: key(8), stamp: 3 },
];

describe('cluster wire format', () => {
  it('decodes what it encodes, for every message type', () => {
    for (const body of bodies) {
      const decoded = decodeClusterMessage(encodeClusterMessage(sender, body));
      expect(decoded).toEqual({ name: 'relay-1', instance: '0102030405060708', ...body });
    }
  });

  it('lays out a heartbeat as documented', () => {
    const bytes = encodeClusterMessage(
      { name: 'r', instance: new Uint8Array(8) },
      { type: ClusterMessageType.HEARTBEAT, seq: 258, peers: 3 },
    );
    expect(Buffer.from(bytes).toString('hex')).toBe(`01010172${'00'.repeat(8)}0000010200000003`);
  });

  it('refuses every truncation and trailing byte with BAD_MESSAGE', () => {
    for (const body of bodies) {
      const bytes = encodeClusterMessage(sender, body);
      for (let cut = 0; cut < bytes.length; cut++) {
        expect(() => decodeClusterMessage(bytes.subarray(0, cut))).toThrow(ClusterError);
      }
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      expect(() => decodeClusterMessage(longer)).toThrow(/trailing/);
    }
  });

  it('refuses unknown versions, types, reasons and sender names', () => {
    const add = encodeClusterMessage(sender, bodies[1]!);
    const bad = (mutate: (b: Uint8Array) => void) => {
      const copy = add.slice();
      mutate(copy);
      return () => decodeClusterMessage(copy);
    };
    expect(bad((b) => (b[0] = 2))).toThrow(/version/);
    expect(bad((b) => (b[1] = 0x7f))).toThrow(/unknown cluster message type/);
    expect(bad((b) => (b[3] = '.'.charCodeAt(0)))).toThrow(/relay name/);
    const remove = encodeClusterMessage(sender, bodies[2]!);
    remove[remove.length - 1] = 9;
    expect(() => decodeClusterMessage(remove)).toThrow(/reason/);
  });

  it('never throws anything but a ClusterError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeClusterMessage(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(ClusterError);
          expect((error as ClusterError).code).toBe('BAD_MESSAGE');
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
