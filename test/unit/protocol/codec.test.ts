import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeForward,
  encodeFrame,
  FORWARD_KEY_OFFSET,
  forwardHeader,
  peekFrameType,
  readDataSequence,
  readForward,
  readSealedHeader,
  readSequence,
  readSessionTag,
  readSpace,
  writeForwardKey,
  writeSealedHeader,
} from '../../../src/protocol/codec.js';
import {
  ProtocolError,
  VersionMismatchError,
  versionMismatchLine,
} from '../../../src/protocol/errors.js';
import {
  AEAD_TAG_BYTES,
  DATA_HEADER_BYTES,
  FORWARD_HEADER_BYTES,
  type Frame,
  FrameType,
  MAX_DATA_FRAME_BYTES,
  MAX_FRAME_BYTES,
  MAX_SEALED_BYTES,
  MAX_SUPERFRAME_BYTES,
  PeerGoneReason,
  PROTOCOL_VERSION,
  SEALED_HEADER_RESERVE_BYTES,
  Space,
  VIRTIO_NET_HDR_BYTES,
} from '../../../src/protocol/frames.js';
import { arbitraryFrame } from './arbitraries.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const unhex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));
const fill = (byte: number, n: number) => new Uint8Array(n).fill(byte);
const rep = (byteHex: string, n: number) => byteHex.repeat(n);

// Known answers written from the layouts in docs/protocol.md §4, not from the
// encoder's output: [version 02][type][body].
const vectors: Array<[string, Frame, string]> = [
  [
    'HELLO',
    { type: FrameType.HELLO, key: fill(0x11, 32), capabilities: 3 },
    `0201${rep('11', 32)}00000003`,
  ],
  [
    'CHALLENGE',
    {
      type: FrameType.CHALLENGE,
      nonce: fill(0x22, 32),
      relayId: fill(0x33, 32),
      capabilities: 0x8000_0000,
    },
    `0202${rep('22', 32)}${rep('33', 32)}80000000`,
  ],
  ['AUTH', { type: FrameType.AUTH, signature: fill(0x44, 64) }, `0203${rep('44', 64)}`],
  [
    'WELCOME v4',
    { type: FrameType.WELCOME, observed: { family: 4, host: '127.0.0.1', port: 4242 } },
    '020404' + '7f000001' + '1092',
  ],
  [
    'WELCOME v6',
    { type: FrameType.WELCOME, observed: { family: 6, host: '::1', port: 443 } },
    `020406${rep('00', 15)}0101bb`,
  ],
  [
    'CONNECT',
    { type: FrameType.CONNECT, peer: fill(0x55, 32), listenPort: 51820 },
    `0205${rep('55', 32)}ca6c`,
  ],
  [
    'ESTABLISHED',
    {
      type: FrameType.ESTABLISHED,
      peer: fill(0x66, 32),
      observed: { family: 4, host: '127.0.0.2', port: 1 },
      listenPort: 0,
    },
    `0206${rep('66', 32)}047f00000200010000`,
  ],
  [
    'PEER_GONE',
    { type: FrameType.PEER_GONE, peer: fill(0x77, 32), reason: PeerGoneReason.REPLACED },
    `0207${rep('77', 32)}02`,
  ],
  [
    'FORWARD',
    { type: FrameType.FORWARD, key: fill(0x88, 32), payload: unhex('0220aabb') },
    `0208${rep('88', 32)}0220aabb`,
  ],
  [
    'NOTICE',
    { type: FrameType.NOTICE, code: 7, message: 'hé' },
    '0209' + '0007' + '0003' + '68c3a9',
  ],
  [
    'HANDSHAKE_INIT',
    {
      type: FrameType.HANDSHAKE_INIT,
      identity: fill(0x01, 32),
      ephemeral: fill(0x02, 32),
      timestamp: unhex('400000000000000a' + '07000000'),
      capabilities: 1,
      signature: fill(0x03, 64),
    },
    `0210${rep('01', 32)}${rep('02', 32)}400000000000000a0700000000000001${rep('03', 64)}`,
  ],
  [
    'HANDSHAKE_RESP',
    {
      type: FrameType.HANDSHAKE_RESP,
      identity: fill(0x04, 32),
      ephemeral: fill(0x05, 32),
      capabilities: 2,
      signature: fill(0x06, 64),
    },
    `0211${rep('04', 32)}${rep('05', 32)}00000002${rep('06', 64)}`,
  ],
  [
    'DATA',
    {
      type: FrameType.DATA,
      tag: 0xdead_beef,
      epoch: 3,
      counter: 0x0102030405n,
      ciphertext: fill(0x99, 17),
    },
    `0220deadbeef000000030000000102030405${rep('99', 17)}`,
  ],
  [
    'CONTROL',
    {
      type: FrameType.CONTROL,
      tag: 1,
      epoch: 0,
      counter: 7n,
      ciphertext: fill(0xaa, 17),
    },
    `0221${'00000001'}${'00000000'}${'0000000000000007'}${rep('aa', 17)}`,
  ],
  [
    'REHANDSHAKE_CHALLENGE',
    { type: FrameType.REHANDSHAKE_CHALLENGE, sessionId: fill(0xaa, 16), nonce: fill(0xbb, 32) },
    `0230${rep('aa', 16)}${rep('bb', 32)}`,
  ],
  [
    'REHANDSHAKE_RESPONSE',
    { type: FrameType.REHANDSHAKE_RESPONSE, nonce: fill(0xcc, 32), mac: fill(0xdd, 32) },
    `0231${rep('cc', 32)}${rep('dd', 32)}`,
  ],
  [
    'REHANDSHAKE_CONFIRM',
    { type: FrameType.REHANDSHAKE_CONFIRM, mac: fill(0xee, 32) },
    `0232${rep('ee', 32)}`,
  ],
];

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as ProtocolError).code;
  }
  return undefined;
}

describe('codec known-answer vectors', () => {
  it('covers every frame type', () => {
    const covered = new Set(vectors.map(([, frame]) => frame.type));
    expect([...covered].sort()).toEqual(Object.values(FrameType).sort());
  });

  for (const [name, frame, expected] of vectors) {
    it(`${name} encodes to its vector and decodes back`, () => {
      expect(hex(encodeFrame(frame))).toBe(expected);
      expect(decodeFrame(unhex(expected))).toEqual(frame);
    });

    it(`${name} truncated by one byte is TRUNCATED, extended is refused`, () => {
      const bytes = unhex(expected);
      const truncated = codeOf(() => decodeFrame(bytes.subarray(0, bytes.length - 1)));
      // FORWARD's payload and DATA's ciphertext are open-ended: one byte less is
      // still TRUNCATED only where the fixed part is cut (DATA: BAD_LENGTH).
      if (frame.type === FrameType.FORWARD) expect(truncated).toBeUndefined();
      else if (frame.type === FrameType.DATA || frame.type === FrameType.CONTROL)
        expect(truncated).toBe('BAD_LENGTH');
      else expect(truncated).toBe('TRUNCATED');
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      const extended = codeOf(() => decodeFrame(longer));
      if (
        frame.type === FrameType.FORWARD ||
        frame.type === FrameType.DATA ||
        frame.type === FrameType.CONTROL
      ) {
        expect(extended).toBeUndefined();
      } else {
        expect(extended).toBe('TRAILING_BYTES');
      }
    });
  }
});

describe('codec refuses bad bytes with stable codes', () => {
  it.each([
    ['', 'TRUNCATED'],
    ['02', 'TRUNCATED'],
    [`0101${rep('11', 32)}`, 'BAD_VERSION'], // a v1 HELLO
    [`0301${rep('11', 32)}00000000`, 'BAD_VERSION'],
    ['02ff', 'UNKNOWN_TYPE'],
    ['0204057f0000011092', 'BAD_ADDRESS'],
    [`0207${rep('77', 32)}09`, 'BAD_VALUE'],
    ['0209000704010000', 'TOO_LARGE'],
    ['02090007000280ff', 'BAD_UTF8'],
    [`0220${rep('00', 16)}${rep('99', 16)}`, 'BAD_LENGTH'],
    [`0221${rep('00', 16)}${rep('99', 16)}`, 'BAD_LENGTH'],
    [`02200000000000000000ffffffffffffffff${rep('99', 17)}`, 'BAD_VALUE'],
  ])('%s → %s', (bytes, code) => {
    expect(codeOf(() => decodeFrame(unhex(bytes)))).toBe(code);
  });

  it('refuses frames over MAX_FRAME_BYTES before looking inside', () => {
    const big = new Uint8Array(MAX_FRAME_BYTES + 1);
    big[0] = PROTOCOL_VERSION;
    big[1] = FrameType.FORWARD;
    expect(codeOf(() => decodeFrame(big))).toBe('TOO_LARGE');
    expect(codeOf(() => peekFrameType(big))).toBe('TOO_LARGE');
  });

  it('names both versions in one line for a frame of another version', () => {
    let error: unknown;
    try {
      decodeFrame(unhex(`0101${rep('11', 32)}`));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(VersionMismatchError);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as VersionMismatchError).version).toBe(1);
    expect((error as VersionMismatchError).typeKnown).toBe(true);
    expect(() => decodeFrame(unhex('07ff00'))).toThrow(
      expect.objectContaining({ code: 'BAD_VERSION', version: 7, typeKnown: false }),
    );
    expect((error as VersionMismatchError).line('peer')).toBe(
      'peer speaks switchback protocol v1, this node speaks v2; upgrade the peer',
    );
    expect((error as VersionMismatchError).line('node', 'relay')).toBe(
      'node speaks switchback protocol v1, this relay speaks v2; upgrade the node',
    );
    expect(versionMismatchLine('relay', 3)).toBe(
      'relay speaks switchback protocol v3, this node speaks v2; upgrade this node',
    );
  });

  it('refuses non-bytes input', () => {
    expect(codeOf(() => decodeFrame('hello' as unknown as Uint8Array))).toBe('NOT_BYTES');
    expect(codeOf(() => decodeFrame(null as unknown as Uint8Array))).toBe('NOT_BYTES');
  });

  it('encodes only valid frames', () => {
    expect(
      codeOf(() => encodeFrame({ type: FrameType.HELLO, key: fill(1, 31), capabilities: 0 })),
    ).toBe('BAD_LENGTH');
    expect(
      codeOf(() => encodeFrame({ type: FrameType.CONNECT, peer: fill(1, 32), listenPort: 70_000 })),
    ).toBe('BAD_VALUE');
    expect(
      codeOf(() =>
        encodeFrame({
          type: FrameType.WELCOME,
          observed: { family: 4, host: '::1', port: 1 },
        }),
      ),
    ).toBe('BAD_ADDRESS');
    expect(
      codeOf(() =>
        encodeFrame({
          type: FrameType.FORWARD,
          key: fill(1, 32),
          payload: new Uint8Array(MAX_FRAME_BYTES - FORWARD_HEADER_BYTES + 1),
        }),
      ),
    ).toBe('TOO_LARGE');
    expect(codeOf(() => encodeFrame({ type: 0x7f } as unknown as Frame))).toBe('UNKNOWN_TYPE');
  });

  it('reads a DATA frame inside a larger buffer (Buffer pool offsets)', () => {
    const frame = encodeFrame({
      type: FrameType.DATA,
      tag: 5,
      epoch: 1,
      counter: 9n,
      ciphertext: fill(7, 20),
    });
    const pool = new Uint8Array(frame.length + 10);
    pool.set(frame, 5);
    const view = pool.subarray(5, 5 + frame.length);
    expect(decodeFrame(view)).toEqual({
      type: FrameType.DATA,
      tag: 5,
      epoch: 1,
      counter: 9n,
      ciphertext: fill(7, 20),
    });
    expect(readSequence(view)).toBe(9);
    expect(readSessionTag(view)).toBe(5);
  });
});

describe('frame sizes (docs/protocol.md §2.2)', () => {
  it('the arithmetic: a 64 KiB super-frame, sealed and forwarded, is the largest frame', () => {
    expect(MAX_SEALED_BYTES).toBe(
      MAX_SUPERFRAME_BYTES + VIRTIO_NET_HDR_BYTES + SEALED_HEADER_RESERVE_BYTES,
    );
    expect(MAX_DATA_FRAME_BYTES).toBe(DATA_HEADER_BYTES + MAX_SEALED_BYTES + AEAD_TAG_BYTES);
    expect(MAX_FRAME_BYTES).toBe(FORWARD_HEADER_BYTES + MAX_DATA_FRAME_BYTES);
    expect(MAX_FRAME_BYTES).toBe(65_630);
    expect(MAX_SUPERFRAME_BYTES).toBe(64 * 1024);
  });

  it('a FORWARD carrying the largest DATA frame is exactly MAX_FRAME_BYTES; one more byte is TOO_LARGE', () => {
    const data = encodeFrame({
      type: FrameType.DATA,
      tag: 1,
      epoch: 0,
      counter: 0n,
      ciphertext: new Uint8Array(MAX_DATA_FRAME_BYTES - DATA_HEADER_BYTES),
    });
    expect(data.length).toBe(MAX_DATA_FRAME_BYTES);
    const forward = encodeFrame({ type: FrameType.FORWARD, key: fill(1, 32), payload: data });
    expect(forward.length).toBe(MAX_FRAME_BYTES);
    expect(decodeFrame(forward).type).toBe(FrameType.FORWARD);
    const tooBig = new Uint8Array(MAX_FRAME_BYTES + 1);
    tooBig.set(forward);
    expect(codeOf(() => decodeFrame(tooBig))).toBe('TOO_LARGE');
  });

  it('a DATA frame over MAX_DATA_FRAME_BYTES is TOO_LARGE, encoded or decoded', () => {
    expect(
      codeOf(() =>
        encodeFrame({
          type: FrameType.DATA,
          tag: 1,
          epoch: 0,
          counter: 0n,
          ciphertext: new Uint8Array(MAX_DATA_FRAME_BYTES - DATA_HEADER_BYTES + 1),
        }),
      ),
    ).toBe('TOO_LARGE');
    const raw = new Uint8Array(MAX_DATA_FRAME_BYTES + 1);
    raw.set([PROTOCOL_VERSION, FrameType.DATA]);
    expect(codeOf(() => decodeFrame(raw))).toBe('TOO_LARGE');
    expect(codeOf(() => readSequence(raw))).toBe('TOO_LARGE');
  });
});

describe('hot-path header readers', () => {
  it('writeSealedHeader and the readers agree with the codec', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(Space.DATA, Space.CONTROL),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.maxSafeNat(),
        (space, tag, epoch, counter) => {
          const frame = new Uint8Array(DATA_HEADER_BYTES + 17);
          writeSealedHeader(frame, 0, space, tag, epoch, counter);
          const type = space === Space.DATA ? FrameType.DATA : FrameType.CONTROL;
          expect(decodeFrame(frame)).toMatchObject({ type, tag, epoch, counter: BigInt(counter) });
          expect(peekFrameType(frame)).toBe(type);
          expect(readSpace(frame)).toBe(space);
          expect(readSequence(frame)).toBe(counter);
          expect(readSessionTag(frame)).toBe(tag);
          expect(
            readSealedHeader(frame, { space: Space.DATA, tag: -1, epoch: -1, counter: -1 }),
          ).toEqual({ space, tag, epoch, counter });
          if (space === Space.DATA) expect(readDataSequence(frame)).toBe(counter);
          else expect(codeOf(() => readDataSequence(frame))).toBe('UNKNOWN_TYPE');
        },
      ),
    );
  });

  it('the sealed-frame readers refuse other frame types', () => {
    const hello = encodeFrame({ type: FrameType.HELLO, key: fill(1, 32), capabilities: 0 });
    expect(peekFrameType(hello)).toBe(FrameType.HELLO);
    for (const read of [readSpace, readSequence, readDataSequence, readSessionTag]) {
      expect(codeOf(() => read(hello))).toBe('UNKNOWN_TYPE');
    }
    expect(
      codeOf(() => readSealedHeader(hello, { space: Space.DATA, tag: 0, epoch: 0, counter: 0 })),
    ).toBe('UNKNOWN_TYPE');
  });

  it("writeForwardKey rewrites FORWARD's key in place", () => {
    const frame = encodeFrame({ type: FrameType.FORWARD, key: fill(1, 32), payload: fill(9, 3) });
    writeForwardKey(frame, fill(2, 32));
    expect(decodeFrame(frame)).toEqual({
      type: FrameType.FORWARD,
      key: fill(2, 32),
      payload: fill(9, 3),
    });
    expect(FORWARD_KEY_OFFSET).toBe(2);
    expect(codeOf(() => writeForwardKey(frame, fill(2, 31)))).toBe('BAD_LENGTH');
  });

  it("forwardHeader + encodeForward make encodeFrame's FORWARD; readForward reads it in place", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 300 }),
        (key, payload) => {
          const frame = encodeForward(forwardHeader(key), payload);
          expect(frame).toEqual(encodeFrame({ type: FrameType.FORWARD, key, payload }));
          const parts = readForward(frame, { key: new Uint8Array(0), payload: new Uint8Array(0) });
          expect(parts.key).toEqual(key);
          expect(parts.payload).toEqual(payload);
          expect(parts.payload.buffer).toBe(frame.buffer); // a view, no copy
        },
      ),
      { numRuns: 200 },
    );
    const hello = encodeFrame({ type: FrameType.HELLO, key: fill(1, 32), capabilities: 0 });
    expect(codeOf(() => readForward(hello, { key: hello, payload: hello }))).toBe('UNKNOWN_TYPE');
    expect(
      codeOf(() => encodeForward(forwardHeader(fill(1, 32)), new Uint8Array(MAX_FRAME_BYTES))),
    ).toBe('TOO_LARGE');
  });

  it('the readers only ever throw ProtocolError on arbitrary bytes', () => {
    const parts = { key: new Uint8Array(0), payload: new Uint8Array(0) };
    const readers = [
      peekFrameType,
      readSpace,
      readSequence,
      readDataSequence,
      readSessionTag,
      (bytes: Uint8Array) => readForward(bytes, parts),
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 80 }),
          fc
            .uint8Array({ maxLength: 80 })
            .map((tail) => new Uint8Array([PROTOCOL_VERSION, FrameType.FORWARD, ...tail])),
          fc
            .uint8Array({ maxLength: 80 })
            .map((tail) => new Uint8Array([PROTOCOL_VERSION, FrameType.DATA, ...tail])),
          fc
            .uint8Array({ maxLength: 80 })
            .map((tail) => new Uint8Array([PROTOCOL_VERSION, FrameType.CONTROL, ...tail])),
        ),
        (raw) => {
          for (const read of readers) {
            try {
              read(raw);
            } catch (error) {
              expect(error).toBeInstanceOf(ProtocolError);
            }
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

// ---------------------------------------------------------------------------
// Properties

describe('codec properties', () => {
  it('decode(encode(frame)) equals frame, and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(arbitraryFrame, (frame) => {
        const encoded = encodeFrame(frame);
        const decoded = decodeFrame(encoded);
        expect(decoded).toEqual(frame);
        expect(encodeFrame(decoded)).toEqual(encoded);
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary bytes give a frame or a ProtocolError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (raw) => {
        try {
          const frame = decodeFrame(raw);
          // Anything that decodes re-encodes to the very same bytes.
          expect(encodeFrame(frame)).toEqual(raw);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('arbitrary bytes behind a valid header give a frame or a ProtocolError', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.values(FrameType)),
        fc.uint8Array({ maxLength: 200 }),
        (type, body) => {
          const raw = new Uint8Array(2 + body.length);
          raw.set([PROTOCOL_VERSION, type]);
          raw.set(body, 2);
          try {
            expect(encodeFrame(decodeFrame(raw))).toEqual(raw);
          } catch (error) {
            expect(error).toBeInstanceOf(ProtocolError);
          }
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('mutated valid frames give a frame or a ProtocolError, never anything else', () => {
    fc.assert(
      fc.property(
        arbitraryFrame,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        (frame, flips) => {
          const bytes = encodeFrame(frame);
          for (const [at, mask] of flips) bytes[at % bytes.length]! ^= mask;
          try {
            expect(encodeFrame(decodeFrame(bytes))).toEqual(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(ProtocolError);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('every truncation of a valid frame is refused or is itself canonical', () => {
    fc.assert(
      fc.property(arbitraryFrame, fc.nat(), (frame, cut) => {
        const encoded = encodeFrame(frame);
        const prefix = encoded.subarray(0, cut % encoded.length);
        try {
          expect(encodeFrame(decodeFrame(prefix))).toEqual(prefix);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
    );
  });
});
