/**
 * The address watch on a real kernel: in a network namespace of the test's
 * own, a process watching its addresses (address-watch-child.ts: netlink
 * notifications, the backstop poll at 60 s) hears an address come and go on
 * its veth within 2 s — which only the notifications can do — and an
 * interface go down and up. No packet is sent. Needs root; it fails, never
 * skips, without.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchOutput } from '../../e2e/process-output.js';
import {
  assertNamespaceCapable,
  closeUnderlay,
  createUnderlay,
  execIn,
  spawnIn,
  stopProcess,
  type Underlay,
} from '../../support/netns.js';

const CHILD = fileURLToPath(new URL('./address-watch-child.ts', import.meta.url));
let underlay: Underlay;

beforeAll(async () => {
  assertNamespaceCapable();
  underlay = await createUnderlay({ prefix: 'sbw' });
}, 30_000);

afterAll(async () => {
  if (underlay) await closeUnderlay(underlay);
}, 30_000);

describe('the address watch, netlink in a namespace', () => {
  it('hears an address come and go, and a link go down and up, long before its backstop poll', async () => {
    const child = spawnIn(underlay.ns.a, process.execPath, ['--import', 'tsx', CHILD]);
    const watched = watchOutput(child);
    const changes = () => (watched.output().match(/^changed \d+$/gm) ?? []).length;
    const ip = async (...args: string[]) => {
      const r = await execIn(underlay.ns.a, 'ip', args);
      expect(r.code, r.stderr).toBe(0);
    };
    try {
      await watched.waitFor(/^watching$/m, 15_000);
      expect(watched.output()).toContain('mode netlink');
      expect(changes()).toBe(0);
      // Each step must be heard on its own: the count grows after it.
      const step = async (...args: string[]) => {
        const next = changes() + 1;
        await ip(...args);
        await watched.waitFor(new RegExp(`^changed ${next}$`, 'm'), 2_000);
      };
      // An address inside our own namespace's underlay subnet; nothing is sent to it.
      await step('addr', 'add', '10.231.0.200/24', 'dev', 'eth0');
      await step('addr', 'del', '10.231.0.200/24', 'dev', 'eth0');
      // A down link's addresses are not listed (getifaddrs via libuv skips it).
      await step('link', 'set', 'eth0', 'down');
      await step('link', 'set', 'eth0', 'up');
    } finally {
      await stopProcess(child, { graceMs: 2_000 });
    }
  }, 40_000);
});
