/**
 * A control server with the inspector on it, on 127.0.0.1:0, fed by the
 * chart-driven observer. Everything it opens is closed by `close()`.
 */
import { type ControlServer, startControlServer } from '../../../src/daemon/control-server.js';
import { attachInspector, type Inspector } from '../../../src/daemon/inspector/attach-inspector.js';
import { createLogger } from '../../../src/daemon/logger.js';
import { createNodeMetrics } from '../../../src/daemon/metrics.js';
import type { NodeObserver } from '../../../src/daemon/node-status.js';

export const TEST_TOKEN = 'test-token-0123456789abcdef';

export interface InspectedNode {
  control: ControlServer;
  inspector: Inspector;
  /** http://127.0.0.1:PORT/inspector?token=… */
  pageUrl: string;
  close(): Promise<void>;
}

export async function serveInspector(
  observer: NodeObserver,
  options: { port?: number; statusIntervalMs?: number } = {},
): Promise<InspectedNode> {
  const logger = createLogger({ level: 'silent' });
  const metrics = createNodeMetrics(observer);
  const control = await startControlServer({
    host: '127.0.0.1',
    port: options.port ?? 0,
    observer,
    metrics: metrics.registry,
    token: TEST_TOKEN,
    logger,
  });
  const inspector = await attachInspector(control, {
    observer,
    token: TEST_TOKEN,
    logger,
    statusIntervalMs: options.statusIntervalMs ?? 250,
  });
  return {
    control,
    inspector,
    pageUrl: `${control.url}${inspector.pagePath}`,
    async close() {
      await inspector.close();
      await control.close();
      metrics.close();
    },
  };
}
