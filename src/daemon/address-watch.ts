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

/** Every non-loopback address with its interface, in the kernel's order
 * (getifaddrs lists them the same way while nothing changes). One string,
 * no array or sort: this runs twice a second on an idle node. */
function rawAddresses(): string {
  const interfaces = networkInterfaces();
  let all = '';
  for (const name in interfaces) {
    const entries = interfaces[name];
    if (entries === undefined) continue;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (!entry.internal) all += `${name}/${entry.address},`;
    }
  }
  return all;
}

/** Every non-loopback address with its interface, in a stable order. */
export function localAddresses(raw: string = rawAddresses()): string {
  return raw === '' ? '' : raw.slice(0, -1).split(',').sort().join(',');
}

/** Calls `changed` whenever the set of local addresses differs from the last look. Returns stop. */
export function watchLocalAddresses(
  changed: () => void,
  options: { intervalMs?: number; read?: () => string } = {},
): () => void {
  // Without a reader of the caller's: compare the kernel's listing as it
  // comes, and sort only when it differs (an order change alone is no change).
  const raw = options.read ? undefined : rawAddresses;
  const read = options.read ?? localAddresses;
  let lastRaw = raw?.();
  let last = raw ? localAddresses(lastRaw) : read();
  const timer = setInterval(() => {
    let now: string;
    if (raw) {
      const listed = raw();
      if (listed === lastRaw) return;
      lastRaw = listed;
      now = localAddresses(listed);
    } else now = read();
    if (now === last) return;
    last = now;
    changed();
  }, options.intervalMs ?? ADDRESS_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
