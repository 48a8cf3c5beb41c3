/**
 * The live inspector in a real browser (Debian's Chromium via playwright-core),
 * watching the REAL connection chart run: upgrade to direct, cut the direct
 * path (suspect → fallingBack → usingRelay, retries refused), restore it
 * (→ usingDirect again), then restart the daemon under the open page.
 * Screenshots of each phase go to reports/inspector/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type InspectorBrowser,
  launchInspectorBrowser,
  openInspector,
  readConnection,
  readEventLog,
  readHighlightedState,
  readHighlightHistory,
  readLastEdges,
  saveScreenshot,
  selectPeer,
  waitForHighlightedState,
  waitForLogReason,
} from '../../support/inspector-page.js';
import { type ChartObserver, createChartObserver } from './chart-observer.js';
import { type InspectedNode, serveInspector } from './helpers.js';

/** `expected` appears in `seen` in this order (other states may come between). */
function inOrder(seen: string[], expected: string[]): boolean {
  let i = 0;
  for (const state of seen) if (state === expected[i]) i++;
  return i === expected.length;
}

describe('inspector page in chromium', () => {
  let node: ChartObserver;
  let served: InspectedNode;
  let browser: InspectorBrowser;

  beforeAll(async () => {
    node = createChartObserver({ peers: ['beta', 'gamma'] });
    served = await serveInspector(node);
    browser = await launchInspectorBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    node?.stop();
  });

  it('follows the chart through upgrade, cut, fallback and recovery, with reasons', async () => {
    const page = await openInspector(browser, served.pageUrl, { peer: 'beta' });
    expect(await readHighlightedState(page)).toBe('usingRelay');
    await saveScreenshot(page, '01-using-relay');

    // Upgrade: hold the re-handshake so the attempt can be seen mid-way.
    const beta = node.peer('beta');
    const releaseRehandshake = beta.hold('rehandshake');
    node.start();
    await waitForHighlightedState(page, 'attemptingDirect.rehandshaking');
    await saveScreenshot(page, '02-attempting-direct');
    releaseRehandshake();
    await waitForHighlightedState(page, 'usingDirect.healthy');
    expect(await readLastEdges(page)).toContain('attemptingDirect.migrating->usingDirect');
    // Let the small charts gather a few samples of the direct path.
    await page.waitForTimeout(1_500);
    await saveScreenshot(page, '03-using-direct');

    // Cut: heartbeats stop. Hold the fallback so it can be seen.
    const releaseFallback = beta.hold('fallback');
    beta.cut();
    await waitForHighlightedState(page, 'usingDirect.suspect');
    await saveScreenshot(page, '04-suspect');
    await waitForHighlightedState(page, 'fallingBack');
    expect(await readLastEdges(page)).toContain('usingDirect.suspect->fallingBack');
    await saveScreenshot(page, '05-falling-back');
    releaseFallback();
    await waitForHighlightedState(page, 'usingRelay');
    await saveScreenshot(page, '06-back-on-relay');

    // While cut, the retry is refused and lands on the relay again.
    await waitForLogReason(page, 'DIAL_REFUSED');
    await waitForHighlightedState(page, 'usingRelay');

    // Restore: the next retry upgrades again.
    beta.restore();
    await waitForHighlightedState(page, 'usingDirect.healthy', 20_000);
    await page.waitForTimeout(600);
    await saveScreenshot(page, '07-direct-again');

    const history = await readHighlightHistory(page);
    expect(
      inOrder(history, [
        'usingRelay',
        'attemptingDirect.listening',
        'attemptingDirect.dialing',
        'attemptingDirect.rehandshaking',
        'attemptingDirect.migrating',
        'usingDirect.healthy',
        'usingDirect.suspect',
        'fallingBack',
        'usingRelay',
        'attemptingDirect.dialing',
        'fallingBack',
        'usingRelay',
        'attemptingDirect.migrating',
        'usingDirect.healthy',
      ]),
      history.join(' → '),
    ).toBe(true);

    // The log names the reasons, newest first, and only this peer and the relay.
    const log = await readEventLog(page);
    const row = (from: string, to: string) => log.find((r) => r.from === from && r.to === to);
    expect(row('usingDirect.healthy', 'usingDirect.suspect')?.reason).toBe('HEARTBEAT_MISSED');
    expect(row('usingDirect.suspect', 'fallingBack')?.reason).toBe('HEARTBEAT_TIMEOUT');
    expect(row('attemptingDirect.dialing', 'fallingBack')?.reason).toBe('DIAL_REFUSED');
    expect(row('attemptingDirect.migrating', 'usingDirect.healthy')?.reason).toBe('UPGRADED');
    expect(row('usingRelay', 'attemptingDirect.listening')?.reason).toMatch(/PEER_ADDRESS|RETRY/);
    expect(log[0]).toMatchObject({ to: 'usingDirect.healthy', reason: 'UPGRADED' });
    expect(log.every((r) => r.chart === 'beta' || r.chart === 'relay')).toBe(true);
    expect(log.some((r) => r.chart === 'relay' && r.to.startsWith('connected'))).toBe(true);
    for (const r of log) expect(r.time).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);

    // The other peer has its own chart and log.
    await selectPeer(page, 'gamma');
    expect(await readHighlightedState(page)).toBe(
      node.status().peers.find((p) => p.name === 'gamma')?.state,
    );
    expect(
      (await readEventLog(page)).every((r) => r.chart === 'gamma' || r.chart === 'relay'),
    ).toBe(true);
    await selectPeer(page, 'beta');
    await page.close();
  }, 120_000);

  it('says it is disconnected while the daemon restarts, then reconnects by itself', async () => {
    const page = await openInspector(browser, served.pageUrl, { peer: 'beta' });
    const port = served.control.port;
    await served.close();
    await page.waitForSelector('body[data-connection="disconnected"]', { timeout: 10_000 });
    expect(await page.isVisible('#banner')).toBe(true);
    expect(await page.textContent('#banner')).toMatch(
      /Disconnected from the daemon.*Reconnecting in/,
    );
    await saveScreenshot(page, '08-daemon-restarting');

    // The "restarted daemon": a new control server on the same port.
    served = await serveInspector(node, { port });
    await page.waitForSelector('body[data-connection="live"]', { timeout: 15_000 });
    expect(await readConnection(page)).toBe('live');
    expect(await page.isVisible('#banner')).toBe(false);
    expect(await readHighlightedState(page)).toBe(
      node.status().peers.find((p) => p.name === 'beta')?.state,
    );
    await page.close();
  }, 60_000);
});
