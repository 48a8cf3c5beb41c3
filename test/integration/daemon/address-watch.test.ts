/**
 * The address watch on a real kernel: in a network namespace of the test's
 * own, a process watching its addresses (address-watch-child.ts: netlink
 * notifications, the backstop poll at 60 s) hears an address come and go on
 * its veth within 2 s — which only the notifications can do — and an
 * interface go down and up. No packet is sent. Needs root; it fails, never
 * skips, without.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const changes = () => (out.match(/^changed \d+$/gm) ?? []).length;
    const waitFor = async (what: string, test: () => boolean, ms = 2_000) => {
      const deadline = Date.now() + ms;
      while (!test()) {
        if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms; output:\n${out}`);
        await sleep(20);
      }
    };
    const ip = async (...args: string[]) => {
      const r = await execIn(underlay.ns.a, 'ip', args);
      expect(r.code, r.stderr).toBe(0);
    };
    try {
      await waitFor('the watch started', () => out.includes('watching'), 15_000);
      expect(out).toContain('mode netlink');
      expect(changes()).toBe(0);
      // Each step must be heard on its own: the count grows after it.
      const step = async (what: string, ...args: string[]) => {
        const before = changes();
        await ip(...args);
        await waitFor(what, () => changes() > before);
      };
      // An address inside our own namespace's underlay subnet; nothing is sent to it.
      await step('the new address noticed', 'addr', 'add', '10.231.0.200/24', 'dev', 'eth0');
      await step('the address gone noticed', 'addr', 'del', '10.231.0.200/24', 'dev', 'eth0');
      // A down link's addresses are not listed (getifaddrs via libuv skips it).
      await step('the link down noticed', 'link', 'set', 'eth0', 'down');
      await step('the link up noticed', 'link', 'set', 'eth0', 'up');
    } finally {
      await stopProcess(child, { graceMs: 2_000 });
    }
  }, 40_000);
});
