import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeKey, generateIdentity } from '../../../src/crypto/identity.js';
import { ConfigError, loadConfig, parseConfig } from '../../../src/daemon/config.js';
import { defaultConnectionTimings } from '../../../src/machines/connection-timings.js';

let peerKey: string;
beforeAll(async () => {
  peerKey = encodeKey((await generateIdentity()).publicKey);
});

const minimal = () => `
key = "a.key"
relay = "ws://127.0.0.1:7000"
[[peers]]
name = "b"
publicKey = "${peerKey}"
`;

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('fills defaults and resolves the key next to the config file', () => {
    const config = parseConfig(minimal(), '/etc/switchback/node.toml');
    expect(config.keyFile).toBe('/etc/switchback/a.key');
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 7443 });
    expect(config.control).toEqual({ host: '127.0.0.1', port: 7900 });
    expect(config.tap).toEqual({ name: 'sb0', mtu: 1400, offload: true, superframes: true });
    expect(config.peers).toHaveLength(1);
    expect(config.peers[0]!.publicKey).toHaveLength(32);
    expect(config.timings).toEqual(defaultConnectionTimings);
  });

  it('merges partial timings over the defaults', () => {
    const config = parseConfig(
      `${minimal()}\n[timings]\nheartbeatIntervalMs = 100\n[timings.retry]\ncapMs = 5000\n`,
      'n.toml',
    );
    expect(config.timings.heartbeatIntervalMs).toBe(100);
    expect(config.timings.retry).toEqual({ ...defaultConnectionTimings.retry, capMs: 5000 });
  });

  it('names the file and the field of a bad value in one line', () => {
    const error = errorOf(() =>
      parseConfig(minimal().replace('ws://127.0.0.1:7000', 'http://x'), 'n.toml'),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(/n\.toml: relay: must be a ws:\/\/ or wss:\/\/ URL/);
    expect(error.message).not.toContain('\n');
  });

  it('refuses an unknown field rather than ignoring a typo, listing what its table takes', () => {
    const error = errorOf(() => parseConfig(`${minimal()}\n[tap]\nmut = 1400\n`, 'n.toml'));
    expect(error.message).toMatch(
      /n\.toml: tap\.mut: unknown key; \[tap\] takes name, address, mtu, offload, superframes$/,
    );
    const nested = errorOf(() =>
      parseConfig(`${minimal()}\n[timings.relay.reconnect]\nbase = 1\n`, 'n.toml'),
    );
    expect(nested.message).toMatch(
      /timings\.relay\.reconnect\.base: unknown key; \[timings\.relay\.reconnect\] takes baseMs, capMs, jitter$/,
    );
    const peer = errorOf(() => parseConfig(minimal().replace('publicKey', 'key'), 'n.toml'));
    expect(peer.message).toMatch(
      /peers\.0\.key: unknown key; \[\[peers\]\] takes name, publicKey$/,
    );
  });

  it('checks an address octet by octet and a port against its range', () => {
    const address = errorOf(() =>
      parseConfig(`${minimal()}\n[tap]\naddress = "10.232.0.300/24"\n`, 'n.toml'),
    );
    expect(address.message).toMatch(
      /n\.toml: tap\.address: "10\.232\.0\.300\/24" is not an IPv4 CIDR address, e\.g\. 10\.232\.0\.2\/24$/,
    );
    for (const bad of ['10.232.0.1/33', '10.232.0.1', '10.232.0.1/24/1', 'fe80::1/64']) {
      expect(() => parseConfig(`${minimal()}\n[tap]\naddress = "${bad}"\n`, 'n.toml')).toThrow(
        /tap\.address: /,
      );
    }
    expect(
      parseConfig(`${minimal()}\n[tap]\naddress = "10.232.0.255/32"\n`, 'n.toml').tap.address,
    ).toBe('10.232.0.255/32');
    const port = errorOf(() => parseConfig(`listen = "127.0.0.1:99999"\n${minimal()}`, 'n.toml'));
    expect(port.message).toMatch(
      /listen: port 99999 in "127\.0\.0\.1:99999" is out of range \(0-65535\)$/,
    );
  });

  it('says a required field is missing, with an example line', () => {
    const error = errorOf(() => parseConfig('key = "a.key"\n', 'n.toml'));
    expect(error.message).toBe(
      `${process.cwd()}/n.toml: relay: is missing; write e.g. relay = "ws://127.0.0.1:7000" or relays = ["ws://127.0.0.1:7000", "ws://127.0.0.1:7001"]`,
    );
  });

  it('takes a list of relays, or one relay as a list of one', () => {
    expect(parseConfig(minimal(), 'n.toml').relays).toEqual(['ws://127.0.0.1:7000']);
    const list = minimal().replace(
      'relay = "ws://127.0.0.1:7000"',
      'relays = ["wss://r1.example:7300", "ws://127.0.0.1:7001"]',
    );
    expect(parseConfig(list, 'n.toml').relays).toEqual([
      'wss://r1.example:7300',
      'ws://127.0.0.1:7001',
    ]);
  });

  it('refuses relay and relays together, an empty list, a repeat and a bad URL, naming the field', () => {
    const where = `${process.cwd()}/n.toml`;
    const both = errorOf(() =>
      parseConfig(
        `relays = ["ws://127.0.0.1:7001"]
${minimal()}`,
        'n.toml',
      ),
    );
    expect(both.code).toBe('CONFIG_INVALID');
    expect(both.message).toBe(
      `${where}: relays: give relay or relays, not both; write e.g. relays = ["ws://127.0.0.1:7000", …]`,
    );
    const list = (value: string) =>
      errorOf(() =>
        parseConfig(
          minimal().replace('relay = "ws://127.0.0.1:7000"', `relays = ${value}`),
          'n.toml',
        ),
      ).message;
    expect(list('[]')).toBe(
      `${where}: relays: is empty; list at least one relay, e.g. relays = ["ws://127.0.0.1:7000"]`,
    );
    expect(list('["ws://127.0.0.1:7001", "ws://127.0.0.1:7001"]')).toBe(
      `${where}: relays.1: "ws://127.0.0.1:7001" is listed twice`,
    );
    expect(list('["ws://127.0.0.1:7001", "http://x"]')).toBe(
      `${where}: relays.1: must be a ws:// or wss:// URL, e.g. ws://127.0.0.1:7000`,
    );
    expect(list('"ws://127.0.0.1:7001"')).toMatch(
      /relays: expected array; write e\.g\. relays = \[/,
    );
  });

  it('names a misspelt key before the field it leaves missing', () => {
    const error = errorOf(() =>
      parseConfig('key = "a.key"\nrleay = "ws://127.0.0.1:7000"\n', 'n.toml'),
    );
    expect(error.message).toMatch(/n\.toml: rleay: unknown key; the top level takes key, relay, /);
  });

  it('refuses a peer key that is not a key', () => {
    const error = errorOf(() => parseConfig(minimal().replace(peerKey, 'not-a-key'), 'n.toml'));
    expect(error.message).toMatch(/peers\.0\.publicKey: not a public key/);
  });

  it('refuses the same peer twice', () => {
    const twice = `${minimal()}\n[[peers]]\nname = "c"\npublicKey = "${peerKey}"\n`;
    expect(errorOf(() => parseConfig(twice, 'n.toml')).message).toMatch(/listed twice/);
  });

  it('refuses a non-loopback control address unless asked', () => {
    const remote = `control = "0.0.0.0:7900"\n${minimal()}`;
    expect(errorOf(() => parseConfig(remote, 'n.toml')).message).toMatch(/controlAllowRemote/);
    expect(parseConfig(`controlAllowRemote = true\n${remote}`, 'n.toml').control.host).toBe(
      '0.0.0.0',
    );
  });

  it('reports broken TOML with its line and column', () => {
    expect(errorOf(() => parseConfig('key = ', 'n.toml')).message).toMatch(
      /n\.toml: not valid TOML at line 1, column \d+: /,
    );
    const error = errorOf(() => parseConfig('key = "a.key"\nrelay = ws://x\n', 'n.toml'));
    expect(error.message).toBe(
      `${process.cwd()}/n.toml: not valid TOML at line 2, column 8: invalid value`,
    );
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file', async () => {
    const file = join(dir, 'node.toml');
    await writeFile(file, minimal());
    expect((await loadConfig(file)).keyFile).toBe(join(dir, 'a.key'));
  });

  it('says plainly when the file is missing', async () => {
    await expect(loadConfig(join(dir, 'nope.toml'))).rejects.toMatchObject({
      code: 'CONFIG_UNREADABLE',
      message: expect.stringMatching(/nope\.toml: cannot read config: no such file/),
    });
  });
});
