// address-watch: what counts as a change of our own addresses.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ADDRESS_BACKSTOP_MS,
  ADDRESS_POLL_MS,
  type AddressEvents,
  localAddresses,
  watchLocalAddresses,
} from '../../../src/daemon/address-watch.js';

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

/** A hand-driven notification source. */
function fakeEvents() {
  const source = {
    look: undefined as (() => void) | undefined,
    fail: (_: Error) => {},
    stopped: 0,
  };
  const events: AddressEvents = {
    start(look, failed) {
      source.look = look;
      source.fail = failed;
      return () => {
        source.stopped++;
      };
    },
  };
  return { events, source };
}

describe('the watch with notifications', () => {
  it('looks when told, and otherwise only at the backstop', async () => {
    vi.useFakeTimers();
    let set = 'a/1';
    let reads = 0;
    const changed = vi.fn();
    const { events, source } = fakeEvents();
    const stop = watchLocalAddresses(changed, {
      read: () => {
        reads++;
        return set;
      },
      events,
    });
    const atStart = reads;
    await vi.advanceTimersByTimeAsync(ADDRESS_BACKSTOP_MS - 1);
    expect(reads).toBe(atStart); // no poll in between
    set = 'a/1,b/2';
    source.look?.();
    expect(changed).toHaveBeenCalledTimes(1);
    set = 'b/2';
    await vi.advanceTimersByTimeAsync(1); // the backstop catches a missed one
    expect(changed).toHaveBeenCalledTimes(2);
    stop();
    expect(source.stopped).toBe(1);
  });

  it('polls every ADDRESS_POLL_MS once the source fails, or when it cannot start', async () => {
    vi.useFakeTimers();
    let set = 'a/1';
    const changed = vi.fn();
    const { events, source } = fakeEvents();
    const stop = watchLocalAddresses(changed, { read: () => set, events });
    source.fail(new Error('ENOBUFS'));
    set = 'a/2';
    await vi.advanceTimersByTimeAsync(ADDRESS_POLL_MS);
    expect(changed).toHaveBeenCalledTimes(1);
    stop();

    const broken: AddressEvents = {
      start() {
        throw new Error('no netlink here');
      },
    };
    const changed2 = vi.fn();
    const stop2 = watchLocalAddresses(changed2, { read: () => set, events: broken });
    set = 'a/3';
    await vi.advanceTimersByTimeAsync(ADDRESS_POLL_MS);
    expect(changed2).toHaveBeenCalledTimes(1);
    stop2();
  });
});
