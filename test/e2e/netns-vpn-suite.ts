// One NetnsVpn for a whole test file: started before its tests (failing,
// never skipping, where root or /dev/net/tun is missing: CI runs as root) and
// closed after them, with the check that no namespace of the run survives.
// Kept apart from netns-vpn.ts, which the benches import without vitest.
import { afterAll, beforeAll, expect } from 'vitest';
import { assertNamespaceCapable, listNamespaces } from '../support/netns.js';
import { NetnsVpn } from './netns-vpn.js';

export function netnsVpnForFile(prefix: string): { readonly vpn: NetnsVpn } {
  let vpn: NetnsVpn | undefined;
  beforeAll(async () => {
    assertNamespaceCapable();
    vpn = await NetnsVpn.start({ prefix });
  }, 60_000);
  afterAll(async () => {
    if (!vpn) return;
    const { id } = vpn.underlay;
    await vpn.close();
    expect(await listNamespaces(id)).toEqual([]);
  }, 60_000);
  return {
    get vpn() {
      if (!vpn) throw new Error('the namespaces are not up (beforeAll failed)');
      return vpn;
    },
  };
}
