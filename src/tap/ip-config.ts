import { execFile } from 'node:child_process';
import { TapConfigError } from './errors.js';

/**
 * Link configuration through iproute2's `ip`, run with execFile (no shell).
 *
 * Why `ip` and not ioctls/netlink from the addon: this runs once per device
 * at start-up, never on the data path; `ip` already handles IPv4 and IPv6,
 * moving a link into a namespace (`-n`), and explains failures in words we
 * can pass on. The e2e tests need iproute2 anyway. The cost is a few
 * milliseconds per command at start-up.
 */
export interface LinkConfig {
  name: string;
  /** Namespace (ip netns name) to move the link into first; later commands run inside it. */
  netns?: string;
  mtu: number;
  /** CIDR, IPv4 or IPv6, e.g. "10.77.0.1/24". */
  addresses: readonly string[];
  mac?: string;
  up: boolean;
}

export async function configureLink(config: LinkConfig, signal?: AbortSignal): Promise<void> {
  const ns = config.netns === undefined ? [] : ['-n', config.netns];
  if (config.netns !== undefined) {
    await runIp(['link', 'set', 'dev', config.name, 'netns', config.netns], signal);
  }
  const set = ['link', 'set', 'dev', config.name, 'mtu', String(config.mtu)];
  if (config.mac !== undefined) set.push('address', config.mac);
  await runIp([...ns, ...set], signal);
  for (const address of config.addresses) {
    await runIp([...ns, 'address', 'add', address, 'dev', config.name], signal);
  }
  if (config.up) await runIp([...ns, 'link', 'set', 'dev', config.name, 'up'], signal);
}

export function runIp(args: readonly string[], signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { signal, timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        const detail = String(stderr).trim() || error.message;
        reject(new TapConfigError(args, detail, { cause: error }));
        return;
      }
      resolve(String(stdout));
    });
  });
}
