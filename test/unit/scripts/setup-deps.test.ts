// scripts/setup-deps.sh, run for real by sh with stand-ins for dpkg-query, id
// and apt-get on PATH (so no package is installed here): it installs what is
// missing as root, and otherwise prints one line and exits 1 only when the
// build itself cannot proceed.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, '../../../scripts/setup-deps.sh');
const ALL = [
  'python3',
  'make',
  'gcc',
  'g++',
  'iproute2',
  'iputils-ping',
  'nftables',
  'iperf3',
  'chromium',
  'fonts-dejavu-core',
  'nats-server',
];

let bin: string;
beforeEach(async () => {
  bin = await mkdtemp(join(tmpdir(), 'switchback-setup-deps-'));
});
afterEach(async () => {
  await rm(bin, { recursive: true, force: true });
});

/** Stand-ins: dpkg-query knows `installed`, id says `uid`, apt-get logs its arguments. */
async function machine(installed: string[], uid: number): Promise<void> {
  const stub = async (name: string, body: string) =>
    writeFile(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  await stub(
    'dpkg-query',
    `for last; do :; done\ncase " ${installed.join(' ')} " in *" $last "*) printf installed ;; *) exit 1 ;; esac`,
  );
  await stub('id', `echo ${uid}`);
  await stub('apt-get', `echo "$*" >> "${join(bin, 'apt.log')}"`);
}

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      '/bin/sh',
      [SCRIPT, ...args],
      { env: { PATH: `${bin}:/usr/bin:/bin` }, timeout: 10_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}

const aptLog = () => readFile(join(bin, 'apt.log'), 'utf8').catch(() => '');

describe('scripts/setup-deps.sh', () => {
  it('as root, installs exactly what is missing, after an update', async () => {
    await machine(['python3', 'make', 'iproute2'], 0);
    const result = await run([]);
    expect(result.code).toBe(0);
    expect(await aptLog()).toBe(
      'update -qq\ninstall -y -qq --no-install-recommends gcc g++ iputils-ping nftables iperf3 chromium fonts-dejavu-core nats-server\n',
    );
  });

  it('as root with everything there, does nothing and says nothing', async () => {
    await machine(ALL, 0);
    expect(await run([])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await aptLog()).toBe('');
  });

  it('not root, without a compiler: one line naming every package, exit 1', async () => {
    await machine(['python3', 'make', 'iproute2', 'nftables'], 1000);
    const result = await run([]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'setup-deps: cannot build without gcc g++; missing: gcc g++ iputils-ping iperf3 chromium fonts-dejavu-core nats-server — sudo sh scripts/setup-deps.sh, or: sudo apt-get install gcc g++ iputils-ping iperf3 chromium fonts-dejavu-core nats-server\n',
    );
    expect(await aptLog()).toBe('');
  });

  it('not root, only test tools missing: one line, exit 0 (the build can go on)', async () => {
    await machine(['python3', 'make', 'gcc', 'g++'], 1000);
    const result = await run([]);
    expect(result.code).toBe(0);
    expect(result.stderr.split('\n')).toHaveLength(2);
    expect(result.stderr).toMatch(
      /^setup-deps: tests that need them will fail until installed; missing: iproute2 iputils-ping nftables iperf3 chromium fonts-dejavu-core nats-server — /,
    );
  });

  it('"build" asks only for the build tools', async () => {
    await machine(['iproute2'], 1000);
    const result = await run(['build']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'setup-deps: cannot build without python3 make gcc g++; missing: python3 make gcc g++ — sudo sh scripts/setup-deps.sh build, or: sudo apt-get install python3 make gcc g++\n',
    );
  });
});
