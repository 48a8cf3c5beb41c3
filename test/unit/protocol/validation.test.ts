import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressBytes, addressText } from '../../../src/protocol/validation.js';

describe('address text', () => {
  it.each([
    ['::1', '00000000000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['2001:db8:0:1:1:1:1:1', '20010db8000000010001000100010001'],
    ['2001:0:0:1::1', '20010000000000010000000000000001'],
    ['fe80::1:0:0:0', 'fe800000000000000001000000000000'],
    ['::ffff:127.0.0.1', '00000000000000000000ffff7f000001'],
  ])('%s ⇄ %s', (text, bytesHex) => {
    const bytes = addressBytes({ family: 6, host: text, port: 0 });
    expect(Buffer.from(bytes).toString('hex')).toBe(bytesHex);
    expect(addressText(bytes)).toBe(text);
  });

  it('canonicalises non-canonical IPv6 text', () => {
    const bytes = addressBytes({ family: 6, host: '2001:DB8:0000::0:1', port: 0 });
    expect(addressText(bytes)).toBe('2001:db8::1');
  });

  it('16 random bytes survive text and back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (raw) => {
        const text = addressText(raw);
        expect(addressBytes({ family: 6, host: text, port: 0 })).toEqual(raw);
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    [4, '::1'],
    [6, '127.0.0.1'],
    [6, 'fe80::1%eth0'],
    [4, '256.0.0.1'],
    [5, '1.2.3.4'],
  ])('family %s host %s is BAD_ADDRESS', (family, host) => {
    expect(() => addressBytes({ family: family as 4, host, port: 0 })).toThrow(
      expect.objectContaining({ code: 'BAD_ADDRESS' }),
    );
  });
});
