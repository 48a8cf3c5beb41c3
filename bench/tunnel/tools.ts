/**
 * The programs the tunnel bench drives. As root it installs what is missing
 * with apt-get (Debian package names below); otherwise it says, in one line,
 * what to install, and exits.
 */
import { execFileSync } from 'node:child_process';

/** Command → the Debian package that provides it. */
const TOOLS: Record<string, string> = {
  ip: 'iproute2',
  nft: 'nftables',
  ping: 'iputils-ping',
  iperf3: 'iperf3',
  tincd: 'tinc',
  openssl: 'openssl',
};

function present(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore', timeout: 2_000 });
    return true;
  } catch {
    return false;
  }
}

export function missingPackages(tools: Record<string, string> = TOOLS): string[] {
  return Object.entries(tools)
    .filter(([command]) => !present(command))
    .map(([, pkg]) => pkg);
}

/** `extra`: more command → package pairs a particular bench needs (e.g. tcpdump). */
export function ensureTools(options: { extra?: Record<string, string> } = {}): void {
  const tools = { ...TOOLS, ...options.extra };
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root) {
    process.stderr.write(
      `this bench needs root (network namespaces, TAP devices) and: apt-get install ${[...new Set(Object.values(tools))].join(' ')}\n`,
    );
    process.exit(1);
  }
  let missing = missingPackages(tools);
  if (missing.length === 0) return;
  process.stderr.write(`bench: installing ${missing.join(' ')} (apt-get) …\n`);
  const install = () =>
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 300_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  try {
    install();
  } catch {
    execFileSync('apt-get', ['update'], { stdio: 'ignore', timeout: 300_000 });
    install();
  }
  missing = missingPackages(tools);
  if (missing.length > 0) {
    process.stderr.write(`bench: still missing after apt-get: ${missing.join(' ')}\n`);
    process.exit(1);
  }
}
