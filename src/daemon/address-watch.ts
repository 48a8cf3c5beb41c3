/**
 * Notices when this machine's own addresses change (a DHCP renewal, a laptop
 * on another network, an interface down and up): the node then moves its
 * relay link to the current addresses and re-probes every direct path
 * (Node.networkChanged). A poll of getifaddrs() — cheap, and the same on
 * every Linux — rather than a netlink socket Node.js does not offer.
 */
import { networkInterfaces } from 'node:os';

/** How often our own addresses are compared: twice a second leaves most of
 * the 3 s a roaming node has to be reachable again for the rest of the work. */
export const ADDRESS_POLL_MS = 500;

/** Every non-loopback address with its interface, in a stable order. */
export function localAddresses(): string {
  const all: string[] = [];
  for (const [name, entries] of Object.entries(networkInterfaces())) {
    for (const entry of entries ?? []) if (!entry.internal) all.push(`${name}/${entry.address}`);
  }
  return all.sort().join(',');
}

/** Calls `changed` whenever the set of local addresses differs from the last look. Returns stop. */
export function watchLocalAddresses(
  changed: () => void,
  options: { intervalMs?: number; read?: () => string } = {},
): () => void {
  const read = options.read ?? localAddresses;
  let last = read();
  const timer = setInterval(() => {
    const now = read();
    if (now === last) return;
    last = now;
    changed();
  }, options.intervalMs ?? ADDRESS_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
