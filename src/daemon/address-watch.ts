/**
 * Notices when this machine's own addresses change (a DHCP renewal, a laptop
 * on another network, an interface down and up): the node then moves its
 * relay link to the current addresses and re-probes every direct path
 * (Node.networkChanged).
 *
 * The kernel says when to look: a NETLINK_ROUTE socket subscribed to link
 * and address changes (native/tap.c, openAddressEvents), read on the main
 * loop like the TAP, wakes the watch only when something changed; the watch
 * then lists the addresses with getifaddrs() and compares. An idle node
 * with steady addresses so does nothing, where a poll woke it twice a
 * second. A slow poll stays as a backstop (a lost notification: the socket
 * overflowed, or the addon refused), and without the addon or netlink the
 * watch polls every ADDRESS_POLL_MS as before.
 */
import { networkInterfaces } from 'node:os';
import { loadNativeTap } from '../tap/native.js';

/** How often our own addresses are compared without notifications: twice a
 * second leaves most of the 3 s a roaming node has to be reachable again for
 * the rest of the work. */
export const ADDRESS_POLL_MS = 500;
/** ...and with them, as a backstop only. */
export const ADDRESS_BACKSTOP_MS = 10_000;

/** Every non-loopback address with its interface, in the kernel's order
 * (getifaddrs lists them the same way while nothing changes). One string,
 * no array or sort. */
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

/** Something that says "look now": `start` returns stop; `failed` is called
 * once if the source dies (the watch then polls at ADDRESS_POLL_MS). */
export interface AddressEvents {
  start(look: () => void, failed: (error: Error) => void): () => void;
}

/** The kernel's link and address notifications, through the addon; undefined
 * when the addon is missing (the watch then polls). */
export function netlinkAddressEvents(): AddressEvents | undefined {
  let native: ReturnType<typeof loadNativeTap>;
  try {
    native = loadNativeTap();
  } catch {
    return undefined;
  }
  return {
    start(look, failed) {
      const fd = native.openAddressEvents();
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        native.stopReader(reader);
        native.close(fd);
      };
      // The messages are only a wake-up: 16 of up to 64 KiB a read is plenty.
      const reader = native.startReader(fd, 16, 65_536, (error) => {
        if (error === null) return look();
        close(); // ENOBUFS (we fell behind) or worse: look, and poll from now on
        look();
        failed(error);
      });
      return close;
    },
  };
}

/** Calls `changed` whenever the set of local addresses differs from the last
 * look. With `events` (by default the kernel's, unless `read` is the
 * caller's) it looks when told and every `intervalMs` (ADDRESS_BACKSTOP_MS);
 * without, every `intervalMs` (ADDRESS_POLL_MS). Returns stop. */
export function watchLocalAddresses(
  changed: () => void,
  options: { intervalMs?: number; read?: () => string; events?: AddressEvents } = {},
): () => void {
  // Without a reader of the caller's: compare the kernel's listing as it
  // comes, and sort only when it differs (an order change alone is no change).
  const raw = options.read ? undefined : rawAddresses;
  const read = options.read ?? localAddresses;
  let lastRaw = raw?.();
  let last = raw ? localAddresses(lastRaw) : read();
  const look = (): void => {
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
  };
  let timer: NodeJS.Timeout | undefined;
  const poll = (ms: number) => {
    if (timer !== undefined) clearInterval(timer);
    timer = setInterval(look, ms);
    timer.unref();
  };
  const events =
    'events' in options ? options.events : options.read ? undefined : netlinkAddressEvents();
  let stopEvents: (() => void) | undefined;
  if (events) {
    try {
      stopEvents = events.start(look, () => {
        stopEvents = undefined;
        poll(options.intervalMs ?? ADDRESS_POLL_MS);
      });
    } catch {
      stopEvents = undefined; // no netlink here: poll
    }
  }
  poll(options.intervalMs ?? (stopEvents ? ADDRESS_BACKSTOP_MS : ADDRESS_POLL_MS));
  return () => {
    stopEvents?.();
    stopEvents = undefined;
    if (timer !== undefined) clearInterval(timer);
  };
}
