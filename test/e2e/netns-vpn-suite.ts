// One NetnsVpn for a whole test file: started before its tests (failing,
// never skipping, where root or /dev/net/tun is missing: CI runs as root) and
// closed after them, with the checks that no namespace of the run survives
// and the relay it started has exited.
// Kept apart from netns-vpn.ts, which the benches import without vitest.
import { afterAll, beforeAll, expect } from 'vitest';
import { assertNamespaceCapable, listNamespaces } from '../support/netns.js';
import { NetnsVpn } from './netns-vpn.js';

/** `prefix`: the namespaces' name prefix (createUnderlay's; default "sbe"). */
export function netnsVpnForFile(prefix?: string): { readonly vpn: NetnsVpn } {
  let vpn: NetnsVpn | undefined;
  beforeAll(async () => {
    assertNamespaceCapable();
    vpn = await NetnsVpn.start({ prefix });
  }, 60_000);
  afterAll(async () => {
    if (!vpn) return;
    const { id } = vpn.underlay;
    const relay = vpn.relay.child;
    await vpn.close();
    expect(await listNamespaces(id)).toEqual([]);
    expect(relay.exitCode ?? relay.signalCode).not.toBeNull();
  }, 60_000);
  return {
    get vpn() {
      if (!vpn) throw new Error('the namespaces are not up (beforeAll failed)');
      return vpn;
    },
  };
}
