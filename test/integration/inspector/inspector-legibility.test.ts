/**
 * What a person reading the inspector sees, in Debian's Chromium at 100 %
 * zoom: the "live" badge only once the first snapshot is on the page, an event
 * log that wraps at spaces and dots but never inside a name, and chart text
 * of at least 10 px. The page watches the real connection chart run
 * (chart-observer.ts); the WebSocket is routed through Playwright so the
 * snapshot can be held back to see what the page shows meanwhile.
 */
import type { WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type InspectorBrowser,
  launchInspectorBrowser,
  openInspector,
  readConnection,
  saveScreenshot,
  waitForLogReason,
} from '../../support/inspector-page.js';
import { type ChartObserver, createChartObserver } from './chart-observer.js';
import { type InspectedNode, serveInspector } from './helpers.js';

interface LiveMoment {
  state: string;
  active: string | null;
  rows: number;
  badge: string;
}

/** Page globals used inside evaluate (the project compiles without the DOM lib). */
type Doc = {
  querySelector(
    selector: string,
  ): { textContent: string | null; getAttribute(n: string): string | null } | null;
  querySelectorAll(selector: string): { length: number };
};

async function waitFor(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('inspector page legibility in chromium', () => {
  let node: ChartObserver;
  let served: InspectedNode;
  let browser: InspectorBrowser;

  beforeAll(async () => {
    node = createChartObserver({ peers: ['beta'] });
    served = await serveInspector(node);
    browser = await launchInspectorBrowser({ width: 1920, height: 1200 });
    // A history to show: upgrade, then a cut (suspect → fallingBack → usingRelay) and a refused retry.
    node.start();
    const state = () => node.status().peers[0]?.state;
    await waitFor('usingDirect.healthy', () => state() === 'usingDirect.healthy');
    node.peer('beta').cut();
    await waitFor('a refused retry', () =>
      node.recentTransitions().some((record) => record.reason === 'DIAL_REFUSED'),
    );
  });

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    node?.stop();
  });

  it('shows "live" only once the first snapshot has been drawn', async () => {
    const page = await browser.context.newPage();
    // Record what the page shows at the moment it calls itself live.
    await page.addInitScript(() => {
      const g = globalThis as unknown as {
        document: Doc & { body: { dataset: Record<string, string> } | null };
        MutationObserver: new (
          callback: () => void,
        ) => { observe(target: unknown, options: unknown): void };
        __liveAt: LiveMoment[];
      };
      g.__liveAt = [];
      new g.MutationObserver(() => {
        const doc = g.document;
        if (doc.body?.dataset.connection !== 'live' || g.__liveAt.length > 0) return;
        g.__liveAt.push({
          state: doc.querySelector('#current-state')?.textContent ?? '',
          active: doc.querySelector('#chart .state.active')?.getAttribute('data-state') ?? null,
          rows: doc.querySelectorAll('#event-log tbody tr').length,
          badge: doc.querySelector('#link-badge')?.textContent ?? '',
        });
      }).observe(g.document, {
        attributes: true,
        subtree: true,
        attributeFilter: ['data-connection'],
      });
    });
    let toPage: WebSocketRoute | undefined;
    const held: Array<string | Buffer> = [];
    let holding = true;
    await page.routeWebSocket(/\/inspector\/ws/, (ws) => {
      toPage = ws;
      const server = ws.connectToServer();
      server.onMessage((message) => {
        if (holding) held.push(message);
        else ws.send(message);
      });
    });
    await page.goto(served.pageUrl);

    // The socket is open and the snapshot has reached the route, but not the page.
    await page.waitForSelector('body[data-connection="loading"]', { timeout: 10_000 });
    await waitFor('the snapshot', () => held.length > 0);
    await page.waitForTimeout(500);
    expect(await readConnection(page)).toBe('loading');
    expect(await page.textContent('#link-badge')).toBe('loading…');
    expect(await page.textContent('#current-state')).toBe('—');

    holding = false;
    for (const message of held.splice(0)) toPage!.send(message);
    await page.waitForSelector('body[data-connection="live"]', { timeout: 10_000 });
    const [moment] = await page.evaluate(
      () => (globalThis as unknown as { __liveAt: LiveMoment[] }).__liveAt,
    );
    const shown = node.status().peers[0]!.state;
    expect(moment).toMatchObject({ state: shown, active: shown, badge: 'live' });
    expect(moment!.rows).toBeGreaterThan(3);
    await page.close();
  }, 60_000);

  // 1920: the log has the 400 px side column, so long state paths must wrap;
  // 1024: the panels sit under the chart, full width.
  for (const viewport of [
    { width: 1920, height: 1200, mustWrap: true },
    { width: 1024, height: 768, mustWrap: false },
  ]) {
    it(`wraps the event log at spaces and dots, never inside a name, at ${viewport.width} px wide`, async () => {
      const page = await openInspector(browser, served.pageUrl, { peer: 'beta' });
      await page.setViewportSize(viewport);
      await waitForLogReason(page, 'DIAL_REFUSED');
      await saveScreenshot(page, `legibility-${viewport.width}`);
      const cells = await page.evaluate(() => {
        type Rect = { top: number; bottom: number };
        type Node = { nodeType: number; textContent: string | null; childNodes: Node[] };
        const g = globalThis as unknown as {
          document: {
            querySelectorAll(s: string): Node[];
            createRange(): {
              setStart(n: Node, o: number): void;
              setEnd(n: Node, o: number): void;
              getClientRects(): Rect[];
            };
          };
        };
        const lines = (rects: Rect[]) => new Set(rects.map((r) => Math.round(r.top))).size;
        const texts = (n: Node): Node[] =>
          n.nodeType === 3 ? [n] : [...n.childNodes].flatMap((child) => texts(child));
        const out: Array<{ text: string; lines: number; broken: string[] }> = [];
        for (const cell of g.document.querySelectorAll('#event-log tbody td')) {
          const broken: string[] = [];
          let cellLines = 0;
          for (const div of [...cell.childNodes]) {
            const range = g.document.createRange();
            const parts = texts(div);
            if (parts.length === 0) continue;
            range.setStart(parts[0]!, 0);
            const last = parts[parts.length - 1]!;
            range.setEnd(last, last.textContent?.length ?? 0);
            cellLines += lines([...range.getClientRects()]);
            // Every name, and every dotted step of a state path, on one line.
            for (const part of parts) {
              const text = part.textContent ?? '';
              for (const match of text.matchAll(/[^\s.]+\.?/g)) {
                const word = g.document.createRange();
                word.setStart(part, match.index);
                word.setEnd(part, match.index + match[0].length);
                if (lines([...word.getClientRects()]) > 1) broken.push(match[0]);
              }
            }
          }
          out.push({ text: cell.textContent ?? '', lines: cellLines, broken });
        }
        return out;
      });
      expect(cells.length).toBeGreaterThan(12);
      expect(cells.filter((cell) => cell.broken.length > 0)).toEqual([]);
      if (viewport.mustWrap) {
        // The column is narrow enough that long state paths do wrap (at a dot).
        const wrapped = cells.filter((cell) => cell.lines > 2 && /\w\.\w/.test(cell.text));
        const seen = cells.map((c) => `${c.lines} ${c.text}`).join('\n');
        expect(wrapped.length, seen).toBeGreaterThan(0);
        // ... and it wraps enough: the log does not need sideways scrolling.
        const overflow = await page.$eval(
          '.log-scroll',
          (box) => box.scrollWidth - box.clientWidth,
        );
        expect(overflow).toBeLessThanOrEqual(1);
      }
      await page.close();
    }, 60_000);
  }

  for (const viewport of [
    { width: 1920, height: 1200 },
    { width: 1500, height: 1000 },
    { width: 1024, height: 768 },
  ]) {
    it(`draws every chart text at 10 px or more at ${viewport.width} px wide`, async () => {
      const page = await openInspector(browser, served.pageUrl, { peer: 'beta' });
      await page.setViewportSize(viewport);
      const sizes = await page.evaluate(() => {
        type El = {
          getAttribute(n: string): string | null;
          textContent: string | null;
          getScreenCTM(): { a: number; d: number } | null;
        };
        const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): El[] } })
          .document;
        return [...doc.querySelectorAll('#chart svg text')].map((text) => {
          const ctm = text.getScreenCTM();
          return {
            text: text.textContent ?? '',
            px: Number(text.getAttribute('font-size')) * Math.min(ctm?.a ?? 0, ctm?.d ?? 0),
          };
        });
      });
      expect(sizes.length).toBeGreaterThan(40);
      const small = sizes.filter((size) => size.px < 10 - 1e-6);
      expect(small).toEqual([]);
      // Where the chart scrolls sideways, the live state is scrolled into view
      // (the page does it on the resize event it just got: give it up to 5 s
      // on a loaded machine).
      const inView = await page
        .waitForFunction(
          () => {
            type Box = { getBoundingClientRect(): { left: number; right: number } };
            const doc = (
              globalThis as unknown as { document: { querySelector(s: string): Box | null } }
            ).document;
            const box = doc.querySelector('#chart .state.active')?.getBoundingClientRect();
            const view = doc.querySelector('#chart')?.getBoundingClientRect();
            return Boolean(box && view && box.left >= view.left && box.right <= view.right);
          },
          undefined,
          { timeout: 5_000 },
        )
        .then(
          () => true,
          () => false,
        );
      expect(inView).toBe(true);
      await page.close();
    }, 60_000);
  }
});
