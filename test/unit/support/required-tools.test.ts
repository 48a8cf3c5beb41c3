import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchInspectorBrowser } from '../../support/inspector-page.js';
import {
  findTool,
  MissingToolError,
  missingToolsMessage,
  requireTools,
} from '../../support/required-tools.js';

describe('required test tools', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchback-tools-'));
    await writeFile(join(dir, 'ping'), '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(join(dir, 'nft'), 'not executable\n', { mode: 0o644 });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds a tool on PATH only when it is executable', () => {
    const env = { PATH: dir };
    expect(findTool('ping', env)).toBe(join(dir, 'ping'));
    expect(findTool('nft', env)).toBeUndefined();
    expect(missingToolsMessage('e2e tests', ['ping'], env)).toBeUndefined();
  });

  it('names every missing tool and its Debian package in one line', () => {
    const env = { PATH: dir, SWITCHBACK_CHROMIUM: join(dir, 'chromium') };
    const message = missingToolsMessage(
      'e2e tests',
      ['ip', 'nft', 'ping', 'iperf3', 'chromium'],
      env,
    );
    expect(message).toBe(
      `e2e tests need ip, nft, iperf3, chromium (at ${join(dir, 'chromium')}), not found: install Debian's iproute2 nftables iperf3 chromium (as root: sh scripts/setup-deps.sh, or apt-get install iproute2 nftables iperf3 chromium)`,
    );
    expect(() => requireTools('e2e tests', ['iperf3'], env)).toThrow(MissingToolError);
  });

  it('a missing Chromium fails the browser tests with that line, not a Playwright error', async () => {
    const before = process.env.SWITCHBACK_CHROMIUM;
    process.env.SWITCHBACK_CHROMIUM = join(dir, 'no-chromium');
    try {
      const failure = await launchInspectorBrowser().then(
        () => undefined,
        (error: Error) => error,
      );
      expect(failure).toBeInstanceOf(MissingToolError);
      expect(failure?.message).toBe(
        `browser tests need chromium (at ${join(dir, 'no-chromium')}), not found: install Debian's chromium (as root: sh scripts/setup-deps.sh, or apt-get install chromium)`,
      );
      expect(failure?.message).not.toContain('\n');
    } finally {
      if (before === undefined) delete process.env.SWITCHBACK_CHROMIUM;
      else process.env.SWITCHBACK_CHROMIUM = before;
    }
  });
});
