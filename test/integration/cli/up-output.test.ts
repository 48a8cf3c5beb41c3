// What `switchback up` prints as it starts, from the real process against a
// relay on loopback: on a terminal (a pty from util-linux `script`), two plain
// lines with the control API and inspector URLs and readable log lines that
// never repeat their prefix ("relay: relay: …"); under a pipe (as under
// journald), JSON log lines whose messages are those same two lines, with
// URLs that answer.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeKey, generateIdentity } from '../../../src/crypto/identity.js';
import { saveIdentity } from '../../../src/crypto/key-file.js';
import { RelayServer } from '../../../src/relay/server.js';

const CONTROL_LINE = /^control api: (http:\/\/127\.0\.0\.1:\d+\/status)$/;
const INSPECTOR_LINE = /^inspector: {3}(http:\/\/127\.0\.0\.1:\d+\/inspector\?token=[\w-]+)$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts a colour code.
const ANSI_COLOUR = /\x1b\[[\d;]*m/g;
/** "x: x: …" — a prefix said twice. */
const REPEATED_PREFIX = /(^|\s)([\w.-]+): \2: /;

let dir: string;
let relay: RelayServer;
let configFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchback-up-output-'));
  relay = new RelayServer({
    listen: { host: '127.0.0.1', port: 0 },
    logger: pino({ level: 'silent' }),
  });
  const { url } = await relay.start();
  await saveIdentity(join(dir, 'node.key'), await generateIdentity());
  const peer = encodeKey((await generateIdentity()).publicKey);
  configFile = join(dir, 'node.toml');
  await writeFile(
    configFile,
    [
      'key = "node.key"',
      `relay = "${url}"`,
      'listen = "127.0.0.1:0"',
      'control = "127.0.0.1:0"',
      'device = "memory"',
      '[[peers]]',
      'name = "alpha"',
      `publicKey = "${peer}"`,
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await relay?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the output lines once `done(lines)` holds; rejects after `timeoutMs`. */
  until(done: (lines: string[]) => boolean, timeoutMs?: number): Promise<string[]>;
  stop(): Promise<number | null>;
}

function start(command: string, args: string[]): Running {
  const child = spawn(command, args, {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SWITCHBACK_TOKEN: '', NO_COLOR: '1' },
  });
  const lines: string[] = [];
  let partial = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    // A pty ends lines with \r\n, and the pretty logger may colour them.
    for (const part of parts) lines.push(part.replace(/\r$/, '').replace(ANSI_COLOUR, ''));
    for (const wake of waiters) wake();
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    child,
    lines,
    until(done, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!done(lines)) return;
          cleanup();
          resolve(lines.slice());
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.kill('SIGTERM');
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

const upArgs = () => ['--import', 'tsx', 'src/cli.ts', 'up', '--config', configFile];

describe('switchback up start-up output', () => {
  it('under a pipe: JSON lines whose messages are the terminal lines, with URLs that answer', async () => {
    const up = start(process.execPath, upArgs());
    try {
      const records = () =>
        up.lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
      await up.until(
        () =>
          records().some((r) => CONTROL_LINE.test(r.msg)) &&
          records().some((r) => INSPECTOR_LINE.test(r.msg)) &&
          records().some((r) => r.peer === 'relay' && String(r.to).startsWith('connected')),
      );
      // Nothing but JSON on stdout: one object per line.
      expect(up.lines.every((line) => line.startsWith('{'))).toBe(true);
      const control = records().find((r) => CONTROL_LINE.test(r.msg));
      const inspector = records().find((r) => INSPECTOR_LINE.test(r.msg));
      expect(control.url).toBe(CONTROL_LINE.exec(control.msg)![1]);
      expect(inspector.url).toBe(INSPECTOR_LINE.exec(inspector.msg)![1]);
      const status = await fetch(control.url);
      expect(status.status).toBe(200);
      const body = (await status.json()) as { peers: Array<{ name: string }> };
      expect(body.peers[0]?.name).toBe('alpha');
      const page = await fetch(inspector.url);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    } finally {
      expect(await up.stop()).toBe(0);
    }
  }, 40_000);

  it('on a terminal: the two plain lines, and no log line repeats its prefix', async () => {
    // `script` runs the command on a pty of its own; -e passes its exit code on.
    const command = ['exec', process.execPath, ...upArgs()]
      .map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`)
      .join(' ');
    const up = start('script', ['-q', '-f', '-e', '-c', command, '/dev/null']);
    try {
      const lines = await up.until(
        (seen) =>
          seen.some((line) => CONTROL_LINE.test(line)) &&
          seen.some((line) => INSPECTOR_LINE.test(line)) &&
          seen.some((line) => / relay: authenticating -> connected\.steady /.test(line)),
      );
      expect(lines.some((line) => line.startsWith('{'))).toBe(false);
      // The relay link's transitions, said once: "INFO  relay: connecting -> …".
      expect(lines.filter((line) => / INFO {2}relay: [\w.]+ -> [\w.]+ \(/.test(line)).length).toBe(
        lines.filter((line) => / -> /.test(line)).length,
      );
      expect(lines.filter((line) => REPEATED_PREFIX.test(line))).toEqual([]);
    } finally {
      expect(await up.stop()).toBe(0);
    }
  }, 40_000);
});
