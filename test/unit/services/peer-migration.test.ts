// PeerMigration: the peer's MIGRATE markers, waited for by the migrate step,
// bound to the upgrade attempt they name (docs/protocol.md §12).
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { NO_ATTEMPT } from '../../../src/crypto/rehandshake.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { PeerMigration } from '../../../src/services/peer-migration.js';

beforeAll(async () => {
  await sodiumReady();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const A = new Uint8Array(16).fill(1);
const B = new Uint8Array(16).fill(2);

describe('PeerMigration', () => {
  it('wait() resolves once the marker arrives', async () => {
    const m = new PeerMigration();
    let done = false;
    const waiting = m.wait(A, new AbortController().signal).then(() => {
      done = true;
    });
    await Promise.resolve();
    expect(done).toBe(false);
    m.arrived(A);
    await waiting;
    expect(done).toBe(true);
  });

  it('wait() after the marker arrived resolves at once, even with an aborted signal', async () => {
    const m = new PeerMigration();
    m.arrived(A);
    await expect(m.wait(A, AbortSignal.abort())).resolves.toBeUndefined();
  });

  it('forget() makes an earlier marker count for nothing', async () => {
    const m = new PeerMigration();
    m.arrived(A);
    m.forget();
    const controller = new AbortController();
    let settled = false;
    const waiting = m.wait(A, controller.signal).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    m.arrived(A);
    await waiting;
    expect(settled).toBe(true);
  });

  it('an abort rejects the wait with the signal’s reason; a later marker harms nothing', async () => {
    const m = new PeerMigration();
    const controller = new AbortController();
    const waiting = m.wait(A, controller.signal);
    const reason = new Error('step stopped');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(() => m.arrived(A)).not.toThrow();
  });

  it('a signal already aborted fails the wait', async () => {
    const m = new PeerMigration();
    const reason = new Error('gone');
    await expect(Promise.resolve().then(() => m.wait(A, AbortSignal.abort(reason)))).rejects.toBe(
      reason,
    );
  });

  it('close() releases every waiter', async () => {
    const m = new PeerMigration();
    const signal = new AbortController().signal;
    const waits = [m.wait(A, signal), m.wait(A, signal), m.wait(A, signal)];
    m.close();
    await expect(Promise.all(waits)).resolves.toHaveLength(3);
  });

  it('a released waiter no longer listens to its signal', async () => {
    const m = new PeerMigration();
    const controller = new AbortController();
    const add = vi.spyOn(controller.signal, 'addEventListener');
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    const waiting = m.wait(A, controller.signal);
    m.arrived(A);
    await waiting;
    expect(add).toHaveBeenCalledTimes(1);
    expect(remove).toHaveBeenCalledTimes(1);
    expect(remove.mock.calls[0]![1]).toBe(add.mock.calls[0]![1]);
  });

  it('ignores and counts a marker of another attempt while waiting; the right one completes', async () => {
    let stale = 0;
    const m = new PeerMigration({ onStale: () => stale++ });
    let done = false;
    const waiting = m.wait(A, new AbortController().signal).then(() => {
      done = true;
    });
    m.arrived(B); // a late marker of an older attempt
    m.arrived(NO_ATTEMPT); // one that names no attempt
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toBe(false);
    expect(stale).toBe(2);
    m.arrived(A);
    await waiting;
    expect(stale).toBe(2);
  });

  it('keeps markers that arrive before the step waits; only this attempt’s completes it', async () => {
    let stale = 0;
    const m = new PeerMigration({ onStale: () => stale++ });
    m.arrived(B);
    m.arrived(A); // the peer finished its proof first
    await expect(m.wait(A, AbortSignal.abort())).resolves.toBeUndefined();
    expect(stale).toBe(1);
    // Consumed: a second wait for the same attempt needs a new marker.
    const controller = new AbortController();
    const again = m.wait(A, controller.signal);
    controller.abort(new Error('no marker'));
    await expect(again).rejects.toThrow('no marker');
  });

  it('keeps only the last few early markers', async () => {
    const m = new PeerMigration();
    m.arrived(A);
    for (let i = 0; i < 8; i++) m.arrived(B);
    const controller = new AbortController();
    const waiting = m.wait(A, controller.signal);
    controller.abort(new Error('dropped'));
    await expect(waiting).rejects.toThrow('dropped');
  });
});
