/**
 * Drives the live inspector page (src/daemon/inspector/page/) in Debian's
 * Chromium through playwright-core. Shared by the browser tests: the one
 * against a chart-driven observer and the one against a real node pair.
 *
 *   const browser = await launchInspectorBrowser();
 *   const page = await openInspector(browser, `${base}/inspector?token=${token}`);
 *   await waitForHighlightedState(page, 'usingDirect.healthy');
 *   await saveScreenshot(page, '01-direct');
 *   await browser.close();
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { chromiumPath, requireTools } from './required-tools.js';

/** Screenshots are test artefacts: reports/ is git-ignored. */
export const SCREENSHOT_DIR = join(import.meta.dirname, '..', '..', 'reports', 'inspector');

/** The few browser globals used inside page.evaluate (the project compiles without the DOM lib). */
interface PageElement {
  getAttribute(name: string): string | null;
}
interface PageGlobals {
  document: {
    querySelector(selector: string): PageElement | null;
    body: { dataset: Record<string, string | undefined> };
  };
  __inspector: { highlights: string[] };
}

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface InspectorBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A fresh Chromium with its own throw-away profile. */
export async function launchInspectorBrowser(
  viewport = { width: 1920, height: 1200 },
): Promise<InspectorBrowser> {
  // One line naming the package, not Playwright's "executable doesn't exist" screen.
  requireTools('browser tests', ['chromium']);
  const profile = await mkdtemp(join(tmpdir(), 'switchback-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath(),
      headless: true,
      args: CHROMIUM_ARGS,
      viewport,
      // Only the daemon on loopback is ever contacted.
      offline: false,
    });
    return {
      context,
      async close() {
        await context.close().catch(() => {});
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
}

/** Opens the page and waits until it is live and the chart is drawn. */
export async function openInspector(
  browser: InspectorBrowser,
  url: string,
  options: { peer?: string; timeoutMs?: number } = {},
): Promise<Page> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(url);
  const timeout = options.timeoutMs ?? 10_000;
  await page.waitForSelector('body[data-connection="live"]', { timeout });
  await page.waitForSelector('#chart svg .state[data-state]', { timeout });
  if (options.peer) await selectPeer(page, options.peer);
  if (errors.length > 0) throw new Error(`inspector page errors: ${errors.join('; ')}`);
  return page;
}

export async function selectPeer(page: Page, peer: string): Promise<void> {
  await page.selectOption('#peer-select', peer);
}

/** The state the chart highlights now (the `.active` box), or null. */
export async function readHighlightedState(page: Page): Promise<string | null> {
  return page.evaluate(
    () =>
      (globalThis as unknown as PageGlobals).document
        .querySelector('#chart .state.active')
        ?.getAttribute('data-state') ?? null,
  );
}

/** Every state the chart has highlighted for the selected peer, in order. */
export async function readHighlightHistory(page: Page): Promise<string[]> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).__inspector.highlights);
}

/** Waits until the highlighted state is `state` (or matches it). */
export async function waitForHighlightedState(
  page: Page,
  state: string | RegExp,
  timeoutMs = 15_000,
): Promise<string> {
  const pattern = typeof state === 'string' ? `^${state.replace(/\./g, '\\.')}$` : state.source;
  const handle = await page.waitForFunction(
    (source) => {
      const current = (globalThis as unknown as PageGlobals).document
        .querySelector('#chart .state.active')
        ?.getAttribute('data-state');
      return current && new RegExp(source).test(current) ? current : null;
    },
    pattern,
    { timeout: timeoutMs, polling: 25 },
  );
  return (await handle.jsonValue()) as string;
}

export interface LogRow {
  time: string;
  chart: string;
  from: string;
  to: string;
  /** Short form: "after suspectInterval", "dial error", "PEER_ADDRESS". */
  event: string;
  reason: string;
}

/** The event log, newest first, as the page shows it (visible text, not attributes). */
export async function readEventLog(page: Page): Promise<LogRow[]> {
  return page.$$eval('#event-log tbody tr', (rows) =>
    rows.map((row) => {
      const text = (selector: string) => row.querySelector(selector)?.textContent?.trim() ?? '';
      return {
        time: text('td.time'),
        chart: text('td.chart-name'),
        from: text('.from'),
        to: text('.to').replace(/^→\s*/, ''),
        event: text('.event'),
        reason: text('.reason-code'),
      };
    }),
  );
}

/** Waits until the event log has a row with this reason (e.g. "DIAL_REFUSED"). */
export async function waitForLogReason(page: Page, reason: string, timeoutMs = 15_000) {
  await page.waitForSelector(`#event-log tbody tr[data-reason="${reason}"]`, {
    state: 'attached',
    timeout: timeoutMs,
  });
}

/** 'live', 'connecting' or 'disconnected' (the page's own banner agrees). */
export async function readConnection(page: Page): Promise<string> {
  return page.evaluate(
    () => (globalThis as unknown as PageGlobals).document.body.dataset.connection ?? '',
  );
}

/** The edges flashed by the last transition (data-transition names). */
export async function readLastEdges(page: Page): Promise<string[]> {
  return page.$$eval('#chart .transition-edge.last', (els) =>
    els.map((el) => el.getAttribute('data-transition') ?? ''),
  );
}

/** Saves reports/inspector/NAME.png (full page) and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
