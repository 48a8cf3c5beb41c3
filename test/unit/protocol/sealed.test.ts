import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSealed, encodeSealed } from '../../../src/protocol/codec.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import {
  MAX_BATCH_BYTES,
  MAX_SUPERFRAME_BYTES,
  SealedKind,
  type SealedMessage,
  Space,
  spaceOfKind,
  VIRTIO_NET_HDR_BYTES,
} from '../../../src/protocol/frames.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const unhex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));

const vectors: Array<[string, SealedMessage, string]> = [
  [
    'ETHERNET',
    { kind: SealedKind.ETHERNET, frame: unhex('ffffffffffff0200000000010806') },
    '00ffffffffffff0200000000010806',
  ],
  [
    'SUPERFRAME (virtio-net header: NEEDS_CSUM, TCPV4, hdr_len 54, gso_size 1348, csum 34/16)',
    {
      kind: SealedKind.SUPERFRAME,
      packet: unhex(`0101360044052200100002000000000202000000000108${'00'.repeat(8)}`),
    },
    `06${'0101360044052200100002000000000202000000000108'}${'00'.repeat(8)}`,
  ],
  [
    'PING',
    { kind: SealedKind.PING, id: 0x01020304, sentAt: 0x1122n },
    '01' + '01020304' + '0000000000001122',
  ],
  ['PONG', { kind: SealedKind.PONG, id: 5, sentAt: 6n }, '02' + '00000005' + '0000000000000006'],
  [
    'MIGRATE',
    { kind: SealedKind.MIGRATE, attemptId: unhex('a1'.repeat(16)), lastSeq: 258n },
    `03${'a1'.repeat(16)}0000000000000102`,
  ],
  [
    'BATCH of two frames (length u16 before each)',
    {
      kind: SealedKind.BATCH,
      frames: [unhex('ffffffffffff0200000000010806'), unhex('ffffffffffff020000000001080600aa')],
    },
    '07000effffffffffff0200000000010806' + '0010ffffffffffff020000000001080600aa',
  ],
  ['CLOSE', { kind: SealedKind.CLOSE, reason: 9 }, '0409'],
  ['KEEPALIVE', { kind: SealedKind.KEEPALIVE, nextTag: null }, '05' + '00' + '00000000'],
  [
    'KEEPALIVE naming a next session',
    { kind: SealedKind.KEEPALIVE, nextTag: 0x01020304 },
    '05' + '01' + '01020304',
  ],
];

describe('sealed messages', () => {
  for (const [name, msg, expected] of vectors) {
    it(`${name} matches its vector`, () => {
      expect(hex(encodeSealed(msg))).toBe(expected);
      expect(decodeSealed(unhex(expected))).toEqual(msg);
    });
  }

  it.each([
    ['', 'TRUNCATED'],
    ['06', 'TRUNCATED'], // SUPERFRAME needs a virtio-net header and an Ethernet header
    ['07', 'TRUNCATED'], // a BATCH holds at least one frame
    ['0700', 'TRUNCATED'], // a length field cut short
    [`07000e${'ff'.repeat(13)}`, 'TRUNCATED'], // a frame running past the end
    ['070000', 'BAD_LENGTH'], // a zero-length frame
    [`07000d${'ff'.repeat(13)}`, 'BAD_LENGTH'], // shorter than an Ethernet header
    [`07000e${'ff'.repeat(14)}00`, 'TRUNCATED'], // trailing byte: a cut length field
    ['08', 'UNKNOWN_KIND'],
    ['0101020304', 'TRUNCATED'],
    ['0409ff', 'TRAILING_BYTES'],
    ['0500', 'TRUNCATED'],
    ['050000000000ff', 'TRAILING_BYTES'],
    ['050000000001', 'BAD_VALUE'], // no next, yet a tag: two encodings of one message
    ['050201020304', 'BAD_VALUE'],
    ['030000000000000102', 'TRUNCATED'], // a v1 MIGRATE: no attempt id
    [`03${'00'.repeat(16)}000000000000010200`, 'TRAILING_BYTES'],
  ])('%s → %s', (text, code) => {
    expect(() => decodeSealed(unhex(text))).toThrow(expect.objectContaining({ code }));
  });

  it('a kind outside its space is UNKNOWN_KIND when the space is given', () => {
    expect(decodeSealed(unhex('00aa'), Space.DATA)).toEqual({
      kind: SealedKind.ETHERNET,
      frame: unhex('aa'),
    });
    expect(() => decodeSealed(unhex('00aa'), Space.CONTROL)).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_KIND' }),
    );
    expect(() => decodeSealed(unhex('050000000000'), Space.DATA)).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_KIND' }),
    );
    for (const [, msg] of vectors) {
      expect(spaceOfKind(msg.kind)).toBe(
        msg.kind === SealedKind.ETHERNET ||
          msg.kind === SealedKind.SUPERFRAME ||
          msg.kind === SealedKind.BATCH
          ? Space.DATA
          : Space.CONTROL,
      );
      expect(decodeSealed(encodeSealed(msg), spaceOfKind(msg.kind))).toEqual(msg);
    }
  });

  it('SUPERFRAME: at least a virtio-net and an Ethernet header, at most header + MAX_SUPERFRAME_BYTES, in the data space only', () => {
    const least = new Uint8Array(1 + VIRTIO_NET_HDR_BYTES + 14);
    least[0] = SealedKind.SUPERFRAME;
    expect(decodeSealed(least, Space.DATA)).toEqual({
      kind: SealedKind.SUPERFRAME,
      packet: least.subarray(1),
    });
    expect(() => decodeSealed(least.subarray(0, least.length - 1))).toThrow(
      expect.objectContaining({ code: 'TRUNCATED' }),
    );
    expect(() => decodeSealed(least, Space.CONTROL)).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_KIND' }),
    );
    const most = new Uint8Array(1 + VIRTIO_NET_HDR_BYTES + MAX_SUPERFRAME_BYTES);
    most[0] = SealedKind.SUPERFRAME;
    expect(decodeSealed(most)).toMatchObject({ kind: SealedKind.SUPERFRAME });
    const over = new Uint8Array(most.length + 1);
    over[0] = SealedKind.SUPERFRAME;
    expect(() => decodeSealed(over)).toThrow(expect.objectContaining({ code: 'TOO_LARGE' }));
    expect(() => encodeSealed({ kind: SealedKind.SUPERFRAME, packet: over.subarray(1) })).toThrow(
      expect.objectContaining({ code: 'TOO_LARGE' }),
    );
    expect(() => encodeSealed({ kind: SealedKind.SUPERFRAME, packet: new Uint8Array(23) })).toThrow(
      expect.objectContaining({ code: 'TRUNCATED' }),
    );
  });

  it('BATCH: up to MAX_BATCH_BYTES in all, every frame an Ethernet frame, encode refuses what decode would', () => {
    const frame = (n: number) => new Uint8Array(n).fill(n & 0xff);
    // 46 frames of 1423 bytes (+2 each) = 65 550 > 65 536; 45 fit.
    const fits = Array.from({ length: 45 }, () => frame(1423));
    const sealed = encodeSealed({ kind: SealedKind.BATCH, frames: fits });
    expect(sealed.length).toBe(1 + 45 * 1425);
    expect(decodeSealed(sealed, Space.DATA)).toEqual({ kind: SealedKind.BATCH, frames: fits });
    const tooMany = [...fits, frame(1423)];
    expect(() => encodeSealed({ kind: SealedKind.BATCH, frames: tooMany })).toThrow(
      expect.objectContaining({ code: 'TOO_LARGE' }),
    );
    expect(() => encodeSealed({ kind: SealedKind.BATCH, frames: [] })).toThrow(
      expect.objectContaining({ code: 'BAD_LENGTH' }),
    );
    expect(() => encodeSealed({ kind: SealedKind.BATCH, frames: [frame(13)] })).toThrow(
      expect.objectContaining({ code: 'BAD_LENGTH' }),
    );
    const over = new Uint8Array(1 + MAX_BATCH_BYTES + 1);
    over[0] = SealedKind.BATCH;
    expect(() => decodeSealed(over)).toThrow(expect.objectContaining({ code: 'TOO_LARGE' }));
    expect(() => decodeSealed(sealed, Space.CONTROL)).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_KIND' }),
    );
  });

  it('arbitrary plaintext decodes or throws ProtocolError; decodes re-encode identically', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
        try {
          expect(encodeSealed(decodeSealed(raw))).toEqual(raw);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
