import { describe, expect, it } from 'vitest';
import { openTapDevice, validateDeviceName } from '../../../src/tap/tap-device.js';

// Validation happens before the kernel is touched, so these need no root.
describe('TAP device options', () => {
  it('accepts names Linux accepts', () => {
    for (const name of ['tap0', 'swb%d', 'a', 'fifteen-bytes-x'])
      expect(() => validateDeviceName(name)).not.toThrow();
  });

  it('rejects names Linux rejects, with TAP_NAME_INVALID', () => {
    for (const name of [
      '',
      '.',
      '..',
      'a/b',
      'a:b',
      'a b',
      'tab\there',
      'sixteen-bytes-xx',
      'x%s',
      '%d%d',
    ]) {
      expect(() => validateDeviceName(name), name).toThrow(
        expect.objectContaining({ code: 'TAP_NAME_INVALID' }),
      );
    }
  });

  it('rejects bad MTU, address, MAC and batch size with TAP_BAD_OPTION', async () => {
    const bad = [
      { mtu: 67 },
      { mtu: 9001 },
      { mtu: 1500.5 },
      { addresses: ['10.77.0.1'] },
      { addresses: ['10.77.0.1/33'] },
      { addresses: ['fd00::1/129'] },
      { addresses: ['not-an-ip/24'] },
      { mac: '02:00:00:00:00' },
      { batchMax: 0 },
    ];
    for (const options of bad) {
      await expect(openTapDevice(options), JSON.stringify(options)).rejects.toMatchObject({
        code: 'TAP_BAD_OPTION',
      });
    }
  });

  it('honours an already-aborted signal before doing anything', async () => {
    await expect(openTapDevice({ signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});
