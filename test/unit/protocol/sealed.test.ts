import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSealed, encodeSealed } from '../../../src/protocol/codec.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import { SealedKind, type SealedMessage } from '../../../src/protocol/frames.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const unhex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));

const vectors: Array<[string, SealedMessage, string]> = [
  [
    'ETHERNET',
    { kind: SealedKind.ETHERNET, frame: unhex('ffffffffffff0200000000010806') },
    '00ffffffffffff0200000000010806',
  ],
  [
    'PING',
    { kind: SealedKind.PING, id: 0x01020304, sentAt: 0x1122n },
    '01' + '01020304' + '0000000000001122',
  ],
  ['PONG', { kind: SealedKind.PONG, id: 5, sentAt: 6n }, '02' + '00000005' + '0000000000000006'],
  ['MIGRATE', { kind: SealedKind.MIGRATE, lastSeq: 258n }, '03' + '0000000000000102'],
  ['CLOSE', { kind: SealedKind.CLOSE, reason: 9 }, '0409'],
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
    ['05', 'UNKNOWN_KIND'],
    ['0101020304', 'TRUNCATED'],
    ['0409ff', 'TRAILING_BYTES'],
    ['03000000000000010200', 'TRAILING_BYTES'],
  ])('%s → %s', (text, code) => {
    expect(() => decodeSealed(unhex(text))).toThrow(expect.objectContaining({ code }));
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
