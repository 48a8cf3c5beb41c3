/**
 * bench:failover --netns — the return to the direct path as a user sees it:
 * `switchback relay` and two `switchback up` (the built dist/cli.js, default
 * timings, real TAP devices) in three network namespaces
 * (test/e2e/netns-vpn.ts, the e2e tests' set-up). Each trial starts fresh
 * nodes, waits for the direct path, blackholes it with nftables in a and b
 * for `cutMs` (the relay stays reachable), lifts the blackhole and measures:
 *
 *   recoveryMs  the blackhole lifted (rules gone in both namespaces) → both
 *               nodes entered usingDirect again (their transition records)
 *   fallbackMs  the cut → a's fallingBack (HEARTBEAT_TIMEOUT), for reference
 *
 * Root only; every namespace and process goes with the set-up.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { NetnsVpn } from '../test/e2e/netns-vpn.js';
import { assertNamespaceCapable, cutPeer, restorePeer } from '../test/support/netns.js';

export interface NetnsTrial {
  fallbackMs: number;
  recoveryMs: number;
}

const TABLE = 'switchback_direct';

export async function netnsRecoveryTrials(options: {
  trials: number;
  cutMs: number;
  log: (line: string) => void;
}): Promise<NetnsTrial[]> {
  assertNamespaceCapable();
  const vpn = await NetnsVpn.start({ prefix: 'sbf', cli: 'built' });
  const trials: NetnsTrial[] = [];
  try {
    const { ns, addr } = vpn.underlay;
    for (let i = 0; i < options.trials; i++) {
      const nodes = await vpn.startNodes(`trial-${i + 1}`);
      try {
        await nodes.bothOnPath('direct', 30_000);
        await sleep(1_000 + Math.random() * 500); // cut at a random phase of the heartbeat
        const cutAt = Date.now();
        await cutPeer(ns.a, addr.b, { table: TABLE });
        await cutPeer(ns.b, addr.a, { table: TABLE });
        const fell = await nodes.firstTransition(
          'a',
          { machine: 'connection', to: 'fallingBack' },
          cutAt,
          15_000,
        );
        await sleep(Math.max(0, cutAt + options.cutMs - Date.now()));
        const since = Date.now();
        await restorePeer(ns.a, { table: TABLE });
        await restorePeer(ns.b, { table: TABLE });
        const restoredAt = Date.now();
        const entered = { machine: 'connection' as const, to: 'usingDirect' };
        const [a, b] = await Promise.all([
          nodes.firstTransition('a', entered, since, 20_000),
          nodes.firstTransition('b', entered, since, 20_000),
        ]);
        const trial = {
          fallbackMs: fell.at - cutAt,
          recoveryMs: Math.max(0, Math.max(a.at, b.at) - restoredAt),
        };
        trials.push(trial);
        options.log(
          `  netns trial ${String(i + 1).padStart(2)}: fell back ${trial.fallbackMs} ms after the cut (${fell.reason}), direct again ${trial.recoveryMs} ms after a ${options.cutMs / 1000} s blackhole ended`,
        );
      } catch (error) {
        throw nodes.explain(error);
      } finally {
        await restorePeer(ns.a, { table: TABLE }).catch(() => {});
        await restorePeer(ns.b, { table: TABLE }).catch(() => {});
        await nodes.stop();
      }
    }
  } finally {
    await vpn.close();
  }
  return trials;
}
