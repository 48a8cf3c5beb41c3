/**
 * tinc 1.0 (Debian's `tinc` package) in switch mode between namespaces a and
 * b: the C VPN we measure against. Default cipher and digest (blowfish-CBC and
 * SHA1 in 1.0), Compression = 0, the TAP MTU the same as Switchback's (1400),
 * keys made fresh per run with `tincd -K`.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mustExec, type Underlay } from '../../test/support/netns.js';
import { type BenchProcess, startIn } from './processes.js';

export const TINC_OVERLAY = { a: '10.233.0.1', b: '10.233.0.2', prefix: 24 };
export const TINC_MTU = 1400;
const NET_PORT = 655;

export interface TincSetup {
  /** What the results record: each node's tinc.conf and host file (keys left out). */
  config: {
    tincConf: Record<'a' | 'b', string>;
    hostFile: Record<'a' | 'b', string>;
    tincUp: string;
  };
  dirs: Record<'a' | 'b', string>;
}

function tincConf(role: 'a' | 'b'): string {
  const lines = [
    `Name = ${role}`,
    'Mode = switch',
    'DeviceType = tap',
    'Interface = tinc0',
    'AddressFamily = ipv4',
    `Port = ${NET_PORT}`,
  ];
  if (role === 'a') lines.push('ConnectTo = b');
  return `${lines.join('\n')}\n`;
}

function hostHeader(underlay: Underlay, role: 'a' | 'b'): string {
  return `Address = ${underlay.addr[role]}\nPort = ${NET_PORT}\nCompression = 0\n`;
}

const TINC_UP = `#!/bin/sh
ip link set "$INTERFACE" mtu ${TINC_MTU} up
ip addr add "$OVERLAY_ADDR/${TINC_OVERLAY.prefix}" dev "$INTERFACE"
`;

/** Writes both nodes' config directories under `root` and generates their keys. */
export async function prepareTinc(root: string, underlay: Underlay): Promise<TincSetup> {
  const dirs = { a: join(root, 'tinc-a'), b: join(root, 'tinc-b') };
  const publicKeys = { a: '', b: '' };
  for (const role of ['a', 'b'] as const) {
    const dir = dirs[role];
    await mkdir(join(dir, 'hosts'), { recursive: true });
    await writeFile(join(dir, 'tinc.conf'), tincConf(role));
    // The address comes from the environment so one script serves both nodes.
    await writeFile(join(dir, 'tinc-up'), TINC_UP.replace('$OVERLAY_ADDR', TINC_OVERLAY[role]));
    await chmod(join(dir, 'tinc-up'), 0o755);
    // tincd -K reads file names from stdin; with none it takes the defaults
    // (rsa_key.priv here, the public key appended to hosts/<name>).
    await mustExec('tincd', ['-c', dir, '-K2048'], { timeoutMs: 60_000 });
    publicKeys[role] = await readFile(join(dir, 'hosts', role), 'utf8');
  }
  for (const dir of Object.values(dirs)) {
    for (const role of ['a', 'b'] as const) {
      await writeFile(join(dir, 'hosts', role), hostHeader(underlay, role) + publicKeys[role]);
    }
  }
  return {
    dirs,
    config: {
      tincConf: { a: tincConf('a'), b: tincConf('b') },
      hostFile: { a: hostHeader(underlay, 'a'), b: hostHeader(underlay, 'b') },
      tincUp: TINC_UP,
    },
  };
}

/** Starts tincd (foreground, -D) in a and b. */
export function startTinc(setup: TincSetup, underlay: Underlay): BenchProcess[] {
  return (['b', 'a'] as const).map((role) =>
    startIn(`tincd ${role}`, underlay.ns[role], 'tincd', [
      '-c',
      setup.dirs[role],
      '-D',
      '-d1',
      '--pidfile',
      join(setup.dirs[role], 'tinc.pid'),
    ]),
  );
}
