/**
 * The node's layer-2 switch: which port (the local TAP device, or one of the
 * peers) should get an Ethernet frame. Pure logic — no I/O, no timers; the
 * caller passes the clock (or lets it default to Date.now) and sends the frame
 * to the ports forward() returns.
 *
 *   frame from port P ──▶ learn src MAC → P
 *                    ──▶ dst group (broadcast/multicast)  → flood
 *                        dst learned on Q (Q ≠ P)         → Q
 *                        dst learned on P                 → drop (sameport)
 *                        dst unknown or aged out          → flood
 *   flood from local  → every peer
 *   flood from a peer → local, plus every other peer only if
 *                       forwardBetweenPeers (see below)
 *
 * forwardBetweenPeers (default false): in a full mesh every node already
 * sends its broadcasts to every peer itself, so a node re-flooding what a peer
 * sent would deliver duplicates and, with three or more nodes, loop frames for
 * ever (no spanning tree here). Set it true only on a hub whose peers cannot
 * reach each other directly (a star); then it behaves as a classic learning
 * bridge: flood to all ports except the one the frame came from.
 *
 * The MAC table is bounded (maxEntries, least recently seen evicted first)
 * and entries age out (ageingMs), so a peer flooding forged source MACs can
 * neither grow memory nor pin stale entries.
 */

export type PortId = string;

/** The port of the node's own TAP device. */
export const LOCAL_PORT: PortId = 'local';

export interface L2SwitchOptions {
  /** Bytes in front of the Ethernet header in every frame (10 when the node's
   * TAP is offloaded: its virtio-net header); default 0. */
  headerBytes?: number;
  maxEntries?: number;
  ageingMs?: number;
  forwardBetweenPeers?: boolean;
  now?: () => number;
}

export const L2_SWITCH_DEFAULTS = {
  // Linux bridge default (br_ageing_time, 300 s) — hosts that went quiet are
  // flooded to again after the same time as on a normal LAN.
  ageingMs: 300_000,
  // A VPN overlay rarely has more than a few hundred hosts; 4096 entries of a
  // few dozen bytes each bound memory at well under a megabyte.
  maxEntries: 4096,
  forwardBetweenPeers: false,
} as const;

export type SwitchDropReason =
  | 'tooShort' // shorter than an Ethernet header
  | 'sourceMulticast' // source MAC has the group bit: invalid, never learned or forwarded
  | 'unknownPort' // came from a port the switch does not have
  | 'sameport' // destination lives on the port it came from
  | 'splitHorizon' // peer → other peer while forwardBetweenPeers is off
  | 'noDestination'; // flood with nobody else to send to

export interface SwitchCounters {
  /** New MAC table entries. */
  learned: number;
  /** A known MAC seen on a different port. */
  moved: number;
  /** Entries dropped to make room (table full). */
  evicted: number;
  /** Entries found too old and forgotten. */
  aged: number;
  unicast: number;
  flooded: number;
  dropped: Record<SwitchDropReason, number>;
}

interface Entry {
  port: PortId;
  seen: number;
}

const NONE: readonly PortId[] = Object.freeze([]);

export class L2Switch {
  readonly counters: SwitchCounters = {
    learned: 0,
    moved: 0,
    evicted: 0,
    aged: 0,
    unicast: 0,
    flooded: 0,
    dropped: {
      tooShort: 0,
      sourceMulticast: 0,
      unknownPort: 0,
      sameport: 0,
      splitHorizon: 0,
      noDestination: 0,
    },
  };

  readonly #maxEntries: number;
  /** Where the Ethernet header starts in a frame. */
  readonly #at: number;
  readonly #ageingMs: number;
  readonly #forwardBetweenPeers: boolean;
  readonly #now: () => number;
  /** MAC (48 bits as a number) → entry; Map order is least recently seen first. */
  readonly #table = new Map<number, Entry>();
  readonly #ports = new Set<PortId>([LOCAL_PORT]);
  /** Precomputed answers so forward() allocates nothing per frame. */
  #floodFrom = new Map<PortId, readonly PortId[]>();
  #only = new Map<PortId, readonly PortId[]>();

  constructor(options: L2SwitchOptions = {}) {
    this.#maxEntries = options.maxEntries ?? L2_SWITCH_DEFAULTS.maxEntries;
    this.#at = options.headerBytes ?? 0;
    if (!Number.isInteger(this.#at) || this.#at < 0)
      throw new RangeError('headerBytes must be >= 0');
    this.#ageingMs = options.ageingMs ?? L2_SWITCH_DEFAULTS.ageingMs;
    this.#forwardBetweenPeers =
      options.forwardBetweenPeers ?? L2_SWITCH_DEFAULTS.forwardBetweenPeers;
    this.#now = options.now ?? Date.now;
    if (!Number.isInteger(this.#maxEntries) || this.#maxEntries < 1)
      throw new RangeError('maxEntries must be >= 1');
    this.#rebuild();
  }

  /** Ports other than LOCAL_PORT (peers), in the order they were added. */
  get peers(): PortId[] {
    return [...this.#ports].filter((p) => p !== LOCAL_PORT);
  }

  get size(): number {
    return this.#table.size;
  }

  addPeer(peer: PortId): void {
    if (peer === LOCAL_PORT) throw new RangeError(`"${LOCAL_PORT}" is the local port's id`);
    if (this.#ports.has(peer)) return;
    this.#ports.add(peer);
    this.#rebuild();
  }

  /** Remove a peer and forget every MAC learned behind it (its hosts are gone with it). */
  removePeer(peer: PortId): void {
    if (peer === LOCAL_PORT || !this.#ports.delete(peer)) return;
    for (const [mac, entry] of this.#table) if (entry.port === peer) this.#table.delete(mac);
    this.#rebuild();
  }

  /**
   * Learn from `frame` (which arrived on port `from`) and return the ports to
   * send it to. An empty result means dropped (counted by reason). The
   * returned array is shared: read it, never modify it.
   */
  forward(frame: Uint8Array, from: PortId): readonly PortId[] {
    const at = this.#at;
    if (frame.byteLength < at + 14) return this.#drop('tooShort');
    if (!this.#ports.has(from)) return this.#drop('unknownPort');
    if ((frame[at + 6] as number) & 1) return this.#drop('sourceMulticast');
    const now = this.#now();
    this.#learn(macKey(frame, at + 6), from, now);

    if (!((frame[at] as number) & 1)) {
      const entry = this.#lookup(macKey(frame, at), now);
      if (entry !== undefined) {
        if (entry.port === from) return this.#drop('sameport');
        if (from !== LOCAL_PORT && entry.port !== LOCAL_PORT && !this.#forwardBetweenPeers) {
          return this.#drop('splitHorizon');
        }
        this.counters.unicast++;
        return this.#only.get(entry.port) as readonly PortId[];
      }
    }
    const ports = this.#floodFrom.get(from) as readonly PortId[];
    if (ports.length === 0) return this.#drop('noDestination');
    this.counters.flooded++;
    return ports;
  }

  /** The port a MAC ("aa:bb:cc:dd:ee:ff") was last seen on, if fresh. */
  lookup(mac: string): PortId | undefined {
    return this.#lookup(parseMac(mac), this.#now())?.port;
  }

  /** Forget every aged entry now (call from a slow timer to return memory early). */
  sweep(): number {
    const now = this.#now();
    let removed = 0;
    // Least recently seen first: stop at the first fresh entry.
    for (const [mac, entry] of this.#table) {
      if (now - entry.seen < this.#ageingMs) break;
      this.#table.delete(mac);
      removed++;
    }
    this.counters.aged += removed;
    return removed;
  }

  #learn(mac: number, port: PortId, now: number): void {
    const entry = this.#table.get(mac);
    if (entry !== undefined) {
      if (entry.port !== port) {
        entry.port = port;
        this.counters.moved++;
      }
      if (entry.seen !== now) {
        // Re-insert to keep the Map ordered by last seen (eviction and sweep
        // rely on it); skipped while the clock has not moved, which is most
        // frames of a burst.
        entry.seen = now;
        this.#table.delete(mac);
        this.#table.set(mac, entry);
      }
      return;
    }
    if (this.#table.size >= this.#maxEntries) {
      const oldest = this.#table.keys().next().value as number;
      this.#table.delete(oldest);
      this.counters.evicted++;
    }
    this.#table.set(mac, { port, seen: now });
    this.counters.learned++;
  }

  #lookup(mac: number, now: number): Entry | undefined {
    const entry = this.#table.get(mac);
    if (entry === undefined) return undefined;
    if (now - entry.seen >= this.#ageingMs) {
      this.#table.delete(mac);
      this.counters.aged++;
      return undefined;
    }
    return entry;
  }

  #drop(reason: SwitchDropReason): readonly PortId[] {
    this.counters.dropped[reason]++;
    return NONE;
  }

  #rebuild(): void {
    const floodFrom = new Map<PortId, readonly PortId[]>();
    const only = new Map<PortId, readonly PortId[]>();
    const all = [...this.#ports];
    for (const from of all) {
      const targets = all.filter((to) => {
        if (to === from) return false;
        if (from === LOCAL_PORT || to === LOCAL_PORT) return true;
        return this.#forwardBetweenPeers;
      });
      floodFrom.set(from, Object.freeze(targets));
      only.set(from, Object.freeze([from]));
    }
    this.#floodFrom = floodFrom;
    this.#only = only;
  }
}

/** A MAC address as a number: 48 bits fit exactly in a double. */
function macKey(frame: Uint8Array, offset: number): number {
  return (
    (frame[offset] as number) * 0x10000000000 +
    (frame[offset + 1] as number) * 0x100000000 +
    (((frame[offset + 2] as number) << 24) >>> 0) +
    ((frame[offset + 3] as number) << 16) +
    ((frame[offset + 4] as number) << 8) +
    (frame[offset + 5] as number)
  );
}

export function parseMac(mac: string): number {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac))
    throw new RangeError(`not a MAC address: ${mac}`);
  return Number.parseInt(mac.replaceAll(':', ''), 16);
}
