// The errors a user meets first, from the real `switchback` process: each is
// one line on stderr naming what is wrong (the file and field, the flag, the
// directory), nothing on stdout, and the exit code docs/cli.md promises.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli } from './run-cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchback-cli-errors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Exit `code`, nothing on stdout, and exactly one line on stderr matching `line`. */
function expectOneLine(result: CliResult, code: number, line: string | RegExp): void {
  expect(result.stdout).toBe('');
  expect(result.stderr.endsWith('\n'), result.stderr).toBe(true);
  expect(result.stderr.trimEnd().split('\n'), result.stderr).toHaveLength(1);
  if (typeof line === 'string') expect(result.stderr).toBe(`${line}\n`);
  else expect(result.stderr.trimEnd()).toMatch(line);
  expect(result.code).toBe(code);
}

async function config(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

const BASE = 'key = "a.key"\nrelay = "ws://127.0.0.1:7000"\ndevice = "memory"\n';

describe('switchback up with a config the user must fix (exit 2)', () => {
  it('names the file and the field of a bad address', async () => {
    const file = await config('address.toml', `${BASE}[tap]\naddress = "10.232.0.300/24"\n`);
    expectOneLine(
      await runCli(['up', '--config', file]),
      2,
      `switchback up: ${file}: tap.address: "10.232.0.300/24" is not an IPv4 CIDR address, e.g. 10.232.0.2/24`,
    );
  });

  it('gives the line and column of broken TOML', async () => {
    const file = await config('syntax.toml', `${BASE}[tap\nname = "sb0"\n`);
    expectOneLine(
      await runCli(['up', '--config', file]),
      2,
      new RegExp(`^switchback up: ${file}: not valid TOML at line 4, column \\d+: .+$`),
    );
  });

  it('lists the keys of the table an unknown key is in', async () => {
    const file = await config('unknown.toml', `${BASE}[timings]\nheartbeatMs = 100\n`);
    expectOneLine(
      await runCli(['up', '--config', file]),
      2,
      `switchback up: ${file}: timings.heartbeatMs: unknown key; [timings] takes heartbeatIntervalMs, suspectIntervalMs, idleAfterMs, idleHeartbeatIntervalMs, idleSuspectIntervalMs, deadIntervalMs, connectTimeoutMs, dialDelayMs, migrationTimeoutMs, stableAfterMs, retry, reprobeIntervalMs, reprobes, reprobeDialTimeoutMs, relay, quality`,
    );
  });

  it('says a listen port is out of range', async () => {
    const file = await config('port.toml', `listen = "127.0.0.1:99999"\n${BASE}`);
    expectOneLine(
      await runCli(['up', '--config', file]),
      2,
      `switchback up: ${file}: listen: port 99999 in "127.0.0.1:99999" is out of range (0-65535)`,
    );
  });
});

describe('bad option values (exit 2, one line)', () => {
  it('relay --max-peers -3', async () => {
    expectOneLine(
      await runCli(['relay', '--listen', '127.0.0.1:0', '--max-peers', '-3']),
      2,
      'switchback relay: --max-peers "-3" must be a positive whole number',
    );
  });

  it('relay --listen 127.0.0.1:99999', async () => {
    expectOneLine(
      await runCli(['relay', '--listen', '127.0.0.1:99999']),
      2,
      'switchback relay: --listen "127.0.0.1:99999": port 99999 is out of range (0-65535)',
    );
  });

  it('a flag where a value should be, and a value missing at the end', async () => {
    expectOneLine(
      await runCli(['relay', '--listen', '--max-peers', '3']),
      2,
      'switchback relay: --listen needs a value, but "--max-peers" follows it; see switchback relay --help',
    );
    expectOneLine(
      await runCli(['ping', 'b', '--count']),
      2,
      'switchback ping: --count needs a value; see switchback ping --help',
    );
    expectOneLine(
      await runCli(['ping', 'b', '--count', '-1']),
      2,
      'switchback ping: --count "-1" must be a positive whole number',
    );
  });
});

describe('switchback keygen --out into a directory that is not there', () => {
  it('says so (exit 1) without naming a temporary file, and leaves nothing behind', async () => {
    const missing = join(dir, 'no-such-dir');
    const result = await runCli(['keygen', '--out', join(missing, 'a.key')]);
    expectOneLine(
      result,
      1,
      `switchback keygen: cannot write key file ${join(missing, 'a.key')}: directory ${missing} does not exist (create it first: mkdir -p ${missing})`,
    );
    expect(result.stderr).not.toMatch(/\.tmp|ENOENT/);
    expect((await readdir(dir)).filter((name) => name.includes('no-such-dir'))).toEqual([]);
  });
});
