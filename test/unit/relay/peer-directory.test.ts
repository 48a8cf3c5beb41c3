import { describe, expect, it } from 'vitest';
import { PeerGoneReason } from '../../../src/protocol/frames.js';
import {
  type DirectoryPeer,
  LocalPeerDirectory,
  type PeerInfo,
} from '../../../src/relay/peer-directory.js';

/** A directory peer that records what the directory told it. */
function peer(id: string, options: { full?: boolean } = {}) {
  const log: string[] = [];
  const received: Uint8Array[] = [];
  const p: DirectoryPeer = {
    id,
    key: new TextEncoder().encode(id.padEnd(32, '.')),
    observed: { family: 4, host: '127.0.0.1', port: 1000 + id.charCodeAt(0) },
    send(frame) {
      if (options.full) return false;
      received.push(frame);
      return true;
    },
    established(partner: PeerInfo, port: number) {
      log.push(`established ${partner.id}:${port}`);
    },
    peerGone(key, reason) {
      log.push(`gone ${new TextDecoder().decode(key).replace(/\.+$/, '')} ${reason}`);
    },
    replaced() {
      log.push('replaced');
    },
  };
  return { p, log, received };
}

describe('LocalPeerDirectory', () => {
  it('pairs two peers only when both asked for each other, telling each the other’s listen port', () => {
    const dir = new LocalPeerDirectory();
    const a = peer('a');
    const b = peer('b');
    dir.register(a.p);
    dir.register(b.p);
    dir.connect(a.p, 'b', 7443);
    expect(a.log).toEqual([]);
    expect(dir.pairCount).toBe(0);
    dir.connect(b.p, 'a', 7444);
    expect(a.log).toEqual(['established b:7444']);
    expect(b.log).toEqual(['established a:7443']);
    expect(dir.pairCount).toBe(1);
  });

  it('delivers only between paired peers, and reports a full receiver', () => {
    const dir = new LocalPeerDirectory();
    const a = peer('a');
    const b = peer('b');
    const c = peer('c', { full: true });
    for (const x of [a, b, c]) dir.register(x.p);
    expect(dir.deliver(a.p, 'b', Uint8Array.of(1))).toBe('not_paired');
    dir.connect(a.p, 'b', 1);
    expect(dir.deliver(a.p, 'b', Uint8Array.of(1))).toBe('not_paired'); // b has not asked
    dir.connect(b.p, 'a', 1);
    expect(dir.deliver(a.p, 'b', Uint8Array.of(2))).toBe('delivered');
    expect(b.received).toEqual([Uint8Array.of(2)]);
    dir.connect(a.p, 'c', 1);
    dir.connect(c.p, 'a', 1);
    expect(dir.deliver(a.p, 'c', Uint8Array.of(3))).toBe('buffer_full');
  });

  it('tells partners when a peer leaves, and re-pairs it when it comes back', () => {
    const dir = new LocalPeerDirectory();
    const a = peer('a');
    const b = peer('b');
    dir.register(a.p);
    dir.register(b.p);
    dir.connect(a.p, 'b', 1);
    dir.connect(b.p, 'a', 2);
    dir.unregister(b.p, PeerGoneReason.DISCONNECTED);
    expect(a.log.at(-1)).toBe(`gone b ${PeerGoneReason.DISCONNECTED}`);
    expect(dir.pairCount).toBe(0);
    const b2 = peer('b');
    dir.register(b2.p);
    dir.connect(b2.p, 'a', 3); // a still wants b: paired again at once
    expect(a.log.at(-1)).toBe('established b:3');
    expect(dir.pairCount).toBe(1);
  });

  it('replaces an older connection with the same key, telling its partners', () => {
    const dir = new LocalPeerDirectory();
    const a = peer('a');
    const old = peer('b');
    dir.register(a.p);
    dir.register(old.p);
    dir.connect(a.p, 'b', 1);
    dir.connect(old.p, 'a', 1);
    const fresh = peer('b');
    dir.register(fresh.p);
    expect(old.log.at(-1)).toBe('replaced');
    expect(a.log.at(-1)).toBe(`gone b ${PeerGoneReason.REPLACED}`);
    expect(dir.lookup('b')).toBe(fresh.p);
    // The old connection's late messages change nothing.
    dir.unregister(old.p, PeerGoneReason.DISCONNECTED);
    expect(dir.lookup('b')).toBe(fresh.p);
  });
});
