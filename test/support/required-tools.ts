/**
 * The programs some tests drive (iproute2, ping, nftables, iperf3, Chromium)
 * and the Debian packages that provide them. A test that needs one calls
 * `requireTools()` first, so a machine without it fails with one line naming
 * the package — never a raw `spawn ip ENOENT` or Playwright's launch text.
 * scripts/setup-deps.sh installs them all (the README's test line runs it).
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** Debian's Chromium, or SWITCHBACK_CHROMIUM (read at each call). */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.SWITCHBACK_CHROMIUM ?? '/usr/bin/chromium';
}

/** Program -> Debian package (bookworm). */
export const TOOL_PACKAGES = {
  ip: 'iproute2',
  ping: 'iputils-ping',
  nft: 'nftables',
  iperf3: 'iperf3',
  chromium: 'chromium',
} as const;

export type Tool = keyof typeof TOOL_PACKAGES;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where `tool` would run from, or undefined: on PATH, as execFile looks it up
 * (nft is in /usr/sbin, which a non-login shell's PATH may lack — then it is
 * missing for the tests too). Chromium is looked for at chromiumPath().
 */
export function findTool(tool: Tool, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (tool === 'chromium') {
    const path = chromiumPath(env);
    return executable(path) ? path : undefined;
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const path = join(dir, tool);
    if (executable(path)) return path;
  }
  return undefined;
}

/** The line a test fails with when tools are missing; undefined when all are there. */
export function missingToolsMessage(
  purpose: string,
  tools: readonly Tool[],
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const missing = tools.filter((tool) => findTool(tool, env) === undefined);
  if (missing.length === 0) return undefined;
  const packages = [...new Set(missing.map((tool) => TOOL_PACKAGES[tool]))].join(' ');
  const what = missing
    .map((tool) => (tool === 'chromium' ? `chromium (at ${chromiumPath(env)})` : tool))
    .join(', ');
  return `${purpose} need ${what}, not found: install Debian's ${packages} (as root: sh scripts/setup-deps.sh, or apt-get install ${packages})`;
}

export class MissingToolError extends Error {
  readonly code = 'MISSING_TOOL';
  constructor(message: string) {
    super(message);
    this.name = 'MissingToolError';
    // The message is the whole story: no stack to scroll past.
    this.stack = `${this.name}: ${message}`;
  }
}

/** Throws MissingToolError naming every missing tool and its package. */
export function requireTools(
  purpose: string,
  tools: readonly Tool[],
  env: NodeJS.ProcessEnv = process.env,
): void {
  const message = missingToolsMessage(purpose, tools, env);
  if (message) throw new MissingToolError(message);
}
