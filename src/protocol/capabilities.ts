// Capabilities (docs/protocol.md §7): small sets of feature flags, one u32
// bitfield, carried signed in the end-to-end handshake (HANDSHAKE_INIT and
// HANDSHAKE_RESP) and in the node ↔ relay hello (HELLO and CHALLENGE). They
// let later features be negotiated per peer without another version bump.
//
// Rules, the same on every link:
//   - each side advertises the flags it implements (never a flag it does not);
//   - the negotiated set is the intersection of the two advertised sets, and
//     only flags this implementation knows can be in it: a flag we do not know
//     is ignored, so a newer peer's extra flags change nothing here;
//   - a feature is used only when its flag is negotiated; a peer without the
//     flag gets version 2's baseline behaviour.

/** End-to-end capabilities (HANDSHAKE_INIT / HANDSHAKE_RESP). */
export const Capability = {
  /** Several plain Ethernet frames sealed into one DATA frame (sealed kind
   * BATCH): the frames of one TAP read, one seal and one write for all.
   * Advertised by every node (src/daemon/node.ts). */
  BATCHED_DATA: 1 << 0,
  /** TAP offload super-frames (up to MAX_SUPERFRAME_BYTES) with their
   * virtio-net header inside one DATA frame (sealed kind SUPERFRAME): "send
   * me super-frames". Advertised unless tap.superframes is false
   * (src/daemon/node.ts); a receiver with a plain TAP segments them itself. */
  OFFLOAD_SUPERFRAMES: 1 << 1,
} as const;
export type Capability = (typeof Capability)[keyof typeof Capability];

/** Node ↔ relay capabilities (HELLO / CHALLENGE). None is defined yet; the
 * field exists so the relay cluster can add features without a version bump. */
export const RelayCapability = {} as const;

/** Every end-to-end flag this implementation knows. */
export const KNOWN_CAPABILITIES: number = Object.values(Capability).reduce((a, b) => a | b, 0);
/** Every node ↔ relay flag this implementation knows. */
export const KNOWN_RELAY_CAPABILITIES: number = Object.values(
  RelayCapability as Record<string, number>,
).reduce((a, b) => a | b, 0);

/** What a handshake advertises when its caller names nothing: the baseline.
 * The node advertises BATCHED_DATA, and OFFLOAD_SUPERFRAMES per its config
 * (src/daemon/node.ts). */
export const LOCAL_CAPABILITIES = 0;
export const LOCAL_RELAY_CAPABILITIES = 0;

/** The negotiated set: flags both advertised that we know (a u32). */
export function negotiateCapabilities(
  ours: number,
  theirs: number,
  known: number = KNOWN_CAPABILITIES,
): number {
  return (ours & theirs & known) >>> 0;
}

export function hasCapability(set: number, flag: number): boolean {
  return (set & flag) === flag && flag !== 0;
}

/** Names of the known end-to-end flags in `set` (status, logs). */
export function capabilityNames(set: number): string[] {
  const names: string[] = [];
  for (const [name, flag] of Object.entries(Capability)) if (set & flag) names.push(name);
  return names;
}
