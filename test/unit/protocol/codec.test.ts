import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeFrame,
  readDataHeader,
  writeDataHeader,
} from '../../../src/protocol/codec.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import {
  type Frame,
  FrameType,
  MAX_FRAME_BYTES,
  PeerGoneReason,
} from '../../../src/protocol/frames.js';
import { arbitraryFrame } from './arbitraries.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const unhex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));
const fill = (byte: number, n: number) => new Uint8Array(n).fill(byte);
const rep = (byteHex: string, n: number) => byteHex.repeat(n);

// Known answers written from the layouts in docs/protocol.md §3, not from the
// encoder's output: [version 01][type][body].
const vectors: Array<[string, Frame, string]> = [
  ['HELLO', { type: FrameType.HELLO, key: fill(0x11, 32) }, `0101${rep('11', 32)}`],
  [
    'CHALLENGE',
    { type: FrameType.CHALLENGE, nonce: fill(0x22, 32), relayId: fill(0x33, 32) },
    `0102${rep('22', 32)}${rep('33', 32)}`,
  ],
  ['AUTH', { type: FrameType.AUTH, signature: fill(0x44, 64) }, `0103${rep('44', 64)}`],
  [
    'WELCOME v4',
    { type: FrameType.WELCOME, observed: { family: 4, host: '127.0.0.1', port: 4242 } },
    '010404' + '7f000001' + '1092',
  ],
  [
    'WELCOME v6',
    { type: FrameType.WELCOME, observed: { family: 6, host: '::1', port: 443 } },
    `010406${rep('00', 15)}0101bb`,
  ],
  [
    'CONNECT',
    { type: FrameType.CONNECT, peer: fill(0x55, 32), listenPort: 51820 },
    `0105${rep('55', 32)}ca6c`,
  ],
  [
    'ESTABLISHED',
    {
      type: FrameType.ESTABLISHED,
      peer: fill(0x66, 32),
      observed: { family: 4, host: '127.0.0.2', port: 1 },
      listenPort: 0,
    },
    `0106${rep('66', 32)}047f00000200010000`,
  ],
  [
    'PEER_GONE',
    { type: FrameType.PEER_GONE, peer: fill(0x77, 32), reason: PeerGoneReason.REPLACED },
    `0107${rep('77', 32)}02`,
  ],
  [
    'FORWARD',
    { type: FrameType.FORWARD, key: fill(0x88, 32), payload: unhex('0120aabb') },
    `0108${rep('88', 32)}0120aabb`,
  ],
  [
    'NOTICE',
    { type: FrameType.NOTICE, code: 7, message: 'hé' },
    '0109' + '0007' + '0003' + '68c3a9',
  ],
  [
    'HANDSHAKE_INIT',
    {
      type: FrameType.HANDSHAKE_INIT,
      identity: fill(0x01, 32),
      ephemeral: fill(0x02, 32),
      signature: fill(0x03, 64),
    },
    `0110${rep('01', 32)}${rep('02', 32)}${rep('03', 64)}`,
  ],
  [
    'HANDSHAKE_RESP',
    {
      type: FrameType.HANDSHAKE_RESP,
      identity: fill(0x04, 32),
      ephemeral: fill(0x05, 32),
      signature: fill(0x06, 64),
    },
    `0111${rep('04', 32)}${rep('05', 32)}${rep('06', 64)}`,
  ],
  [
    'DATA',
    {
      type: FrameType.DATA,
      epoch: 3,
      counter: 0x0102030405n,
      ciphertext: fill(0x99, 17),
    },
    `0120000000030000000102030405${rep('99', 17)}`,
  ],
  [
    'REHANDSHAKE_CHALLENGE',
    { type: FrameType.REHANDSHAKE_CHALLENGE, sessionId: fill(0xaa, 16), nonce: fill(0xbb, 32) },
    `0130${rep('aa', 16)}${rep('bb', 32)}`,
  ],
  [
    'REHANDSHAKE_RESPONSE',
    { type: FrameType.REHANDSHAKE_RESPONSE, nonce: fill(0xcc, 32), mac: fill(0xdd, 32) },
    `0131${rep('cc', 32)}${rep('dd', 32)}`,
  ],
  [
    'REHANDSHAKE_CONFIRM',
    { type: FrameType.REHANDSHAKE_CONFIRM, mac: fill(0xee, 32) },
    `0132${rep('ee', 32)}`,
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
      else if (frame.type === FrameType.DATA) expect(truncated).toBe('BAD_LENGTH');
      else expect(truncated).toBe('TRUNCATED');
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      const extended = codeOf(() => decodeFrame(longer));
      if (frame.type === FrameType.FORWARD || frame.type === FrameType.DATA) {
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
    ['01', 'TRUNCATED'],
    [`0201${rep('11', 32)}`, 'BAD_VERSION'],
    ['01ff', 'UNKNOWN_TYPE'],
    ['0104057f0000011092', 'BAD_ADDRESS'],
    [`0107${rep('77', 32)}09`, 'BAD_VALUE'],
    ['0109000704010000', 'TOO_LARGE'],
    ['01090007000280ff', 'BAD_UTF8'],
    [`0120${rep('00', 12)}${rep('99', 16)}`, 'BAD_LENGTH'],
    [`012000000000ffffffffffffffff${rep('99', 17)}`, 'BAD_VALUE'],
  ])('%s → %s', (bytes, code) => {
    expect(codeOf(() => decodeFrame(unhex(bytes)))).toBe(code);
  });

  it('refuses frames over MAX_FRAME_BYTES before looking inside', () => {
    const big = new Uint8Array(MAX_FRAME_BYTES + 1);
    big[0] = 1;
    big[1] = FrameType.FORWARD;
    expect(codeOf(() => decodeFrame(big))).toBe('TOO_LARGE');
  });

  it('refuses non-bytes input', () => {
    expect(codeOf(() => decodeFrame('hello' as unknown as Uint8Array))).toBe('NOT_BYTES');
    expect(codeOf(() => decodeFrame(null as unknown as Uint8Array))).toBe('NOT_BYTES');
  });

  it('encodes only valid frames', () => {
    expect(codeOf(() => encodeFrame({ type: FrameType.HELLO, key: fill(1, 31) }))).toBe(
      'BAD_LENGTH',
    );
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
          payload: new Uint8Array(MAX_FRAME_BYTES),
        }),
      ),
    ).toBe('TOO_LARGE');
    expect(codeOf(() => encodeFrame({ type: 0x7f } as unknown as Frame))).toBe('UNKNOWN_TYPE');
  });

  it('reads a DATA frame inside a larger buffer (Buffer pool offsets)', () => {
    const frame = encodeFrame({
      type: FrameType.DATA,
      epoch: 1,
      counter: 9n,
      ciphertext: fill(7, 20),
    });
    const pool = new Uint8Array(frame.length + 10);
    pool.set(frame, 5);
    const view = pool.subarray(5, 5 + frame.length);
    expect(decodeFrame(view)).toEqual({
      type: FrameType.DATA,
      epoch: 1,
      counter: 9n,
      ciphertext: fill(7, 20),
    });
  });
});

describe('DATA header fast path', () => {
  it('writeDataHeader and readDataHeader agree with the codec', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.maxSafeNat(), (epoch, counter) => {
        const frame = new Uint8Array(14 + 17);
        writeDataHeader(frame, 0, epoch, counter);
        const decoded = decodeFrame(frame);
        expect(decoded).toMatchObject({ type: FrameType.DATA, epoch, counter: BigInt(counter) });
        expect(readDataHeader(frame, { epoch: -1, counter: -1 })).toEqual({ epoch, counter });
      }),
    );
  });

  it('readDataHeader refuses other frame types', () => {
    const hello = encodeFrame({ type: FrameType.HELLO, key: fill(1, 32) });
    expect(codeOf(() => readDataHeader(hello, { epoch: 0, counter: 0 }))).toBe('UNKNOWN_TYPE');
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
          raw.set([1, type]);
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
