/**
 * A relay and two nodes on loopback (src/testing/loopback-cluster.ts) for one
 * test at a time: call inside a describe(); each test starts its cluster with
 * the returned function, and it is closed after the test, pass or fail.
 */
import { afterEach } from 'vitest';
import {
  LoopbackCluster,
  type LoopbackClusterOptions,
} from '../../src/testing/loopback-cluster.js';

export function useLoopbackCluster(): (
  options?: LoopbackClusterOptions,
) => Promise<LoopbackCluster> {
  let cluster: LoopbackCluster | undefined;
  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });
  return async (options) => {
    await cluster?.close();
    cluster = await LoopbackCluster.start(options);
    return cluster;
  };
}
