// address-watch: what counts as a change of our own addresses.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { localAddresses, watchLocalAddresses } from '../../../src/daemon/address-watch.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('local addresses', () => {
  it('are listed in a stable order, whatever order the kernel gave', () => {
    expect(localAddresses('eth1/10.0.0.2,eth0/10.0.0.1,')).toBe('eth0/10.0.0.1,eth1/10.0.0.2');
    expect(localAddresses('')).toBe('');
    // This machine's own, read for real: a sorted list (possibly empty).
    const own = localAddresses();
    expect(own).toBe(own.split(',').sort().join(','));
  });

  it('changed() fires once per change of the set, never for the same set', async () => {
    vi.useFakeTimers();
    const sets = ['a/1', 'a/1', 'a/1,b/2', 'a/1,b/2', 'a/1'];
    let i = 0;
    const changed = vi.fn();
    const stop = watchLocalAddresses(changed, {
      intervalMs: 100,
      read: () => sets[Math.min(i++, sets.length - 1)]!,
    });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(changed).toHaveBeenCalledTimes(2);
    stop();
  });
});
