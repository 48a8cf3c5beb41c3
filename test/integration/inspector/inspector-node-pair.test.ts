/**
 * The inspector against a RUNNING node pair (relay + two nodes on loopback,
 * real TLS, real sockets): open the page for node a, cut the direct path in
 * the fault proxy, and watch the highlighted state go suspect → fallingBack →
 * usingRelay and back to usingDirect after restore, with the reasons in the
 * event log. Screenshots go to reports/inspector/pair-*.png.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlServer, startControlServer } from '../../../src/daemon/control-server.js';
import { attachInspector } from '../../../src/daemon/inspector/attach-inspector.js';
import { createNodeMetrics } from '../../../src/daemon/metrics.js';
import { LoopbackCluster } from '../../../src/testing/loopback-cluster.js';
import {
  type InspectorBrowser,
  launchInspectorBrowser,
  openInspector,
  readEventLog,
  readHighlightHistory,
  saveScreenshot,
  waitForHighlightedState,
  waitForLogReason,
} from '../../support/inspector-page.js';

const TOKEN = 'node-pair-test-token';

describe('inspector page on a running node pair', () => {
  let cluster: LoopbackCluster;
  let control: ControlServer;
  let browser: InspectorBrowser;
  let pageUrl: string;

  beforeAll(async () => {
    cluster = await LoopbackCluster.start({
      timings: { retry: { baseMs: 300, capMs: 1_000, jitter: 0.2 } },
    });
    const node = cluster.nodes.a;
    const logger = pino({ level: 'silent' });
    control = await startControlServer({
      host: '127.0.0.1',
      port: 0,
      observer: node,
      metrics: createNodeMetrics(node).registry,
      token: TOKEN,
      logger,
    });
    const inspector = await attachInspector(control, { observer: node, token: TOKEN, logger });
    pageUrl = `${control.url}${inspector.pagePath}`;
    browser = await launchInspectorBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await control?.close();
    await cluster?.close();
  });

  it('follows the real chart through cut, fallback and recovery', async () => {
    const page = await openInspector(browser, pageUrl, { peer: 'b' });
    await waitForHighlightedState(page, 'usingDirect.healthy', 20_000);
    await saveScreenshot(page, 'pair-1-direct');

    await cluster.cut();
    await waitForHighlightedState(
      page,
      /^(usingDirect\.suspect|fallingBack|usingRelay|attemptingDirect\..*)$/,
    );
    await waitForLogReason(page, 'HEARTBEAT_TIMEOUT', 20_000);
    await saveScreenshot(page, 'pair-2-fallen-back');

    await cluster.restore();
    await cluster.waitFor(
      'a',
      (p) => p.state === 'usingDirect.healthy' && p.fallbacks >= 1,
      30_000,
    );
    await waitForHighlightedState(page, 'usingDirect.healthy', 20_000);
    await saveScreenshot(page, 'pair-3-direct-again');

    const seen = await readHighlightHistory(page);
    const fell = seen.indexOf('usingDirect.suspect');
    expect(fell).toBeGreaterThan(-1);
    expect(seen.indexOf('fallingBack', fell)).toBeGreaterThan(fell);
    const relay = seen.indexOf('usingRelay', seen.indexOf('fallingBack', fell));
    expect(relay).toBeGreaterThan(fell);
    expect(seen.lastIndexOf('usingDirect.healthy')).toBeGreaterThan(relay);

    const reasons = (await readEventLog(page)).map((row) => row.reason);
    expect(reasons).toContain('HEARTBEAT_MISSED');
    expect(reasons).toContain('HEARTBEAT_TIMEOUT');
    expect(reasons).toContain('UPGRADED');
  });
});
