import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TapConfigError, TapNameInUseError, TapNameInvalidError } from '../../../src/tap/errors.js';
import { openTapDevice, type TapDevice } from '../../../src/tap/tap-device.js';
import { requireTools } from '../../support/required-tools.js';

// Needs root and /dev/net/tun (CI runs as root). Every address used here lives
// inside the two namespaces this file creates and deletes.
const run = promisify(execFile);
const suffix = `${process.pid}-${Date.now().toString(36)}`;
const NS_A = `swbt-a-${suffix}`;
const NS_B = `swbt-b-${suffix}`;
const ADDR_A = '10.77.0.1';
const ADDR_B = '10.77.0.2';
const childScript = fileURLToPath(new URL('./fixtures/open-tap.mts', import.meta.url));

async function linkExists(name: string): Promise<boolean> {
  try {
    await run('ip', ['link', 'show', 'dev', name]);
    return true;
  } catch {
    return false;
  }
}

/** `ping` from namespace `ns` to `target` with `args` (count, interval, …). */
function ping(ns: string, target: string, ...args: string[]) {
  return run('ip', ['netns', 'exec', ns, 'ping', ...args, target]);
}

async function openInChild(
  wrapper: string[],
): Promise<{ ok: boolean; code?: string; message?: string }> {
  const { stdout } = await run(wrapper[0] as string, [
    ...wrapper.slice(1),
    process.execPath,
    '--import',
    'tsx',
    childScript,
  ]);
  return JSON.parse(stdout.trim().split('\n').at(-1) as string);
}

describe('TapDevice across two network namespaces', () => {
  const devices: TapDevice[] = [];
  let a: TapDevice;
  let b: TapDevice;

  beforeAll(async () => {
    requireTools('TAP device tests', ['ip', 'ping']);
    await run('ip', ['netns', 'add', NS_A]);
    await run('ip', ['netns', 'add', NS_B]);
    // The pid keeps names unique between concurrent runs in the root namespace,
    // where each device exists briefly before it moves into its namespace.
    a = await openTapDevice({
      name: `sba${process.pid}`,
      netns: NS_A,
      addresses: [`${ADDR_A}/24`],
      mtu: 1400,
    });
    devices.push(a);
    b = await openTapDevice({
      name: `sbb${process.pid}`,
      netns: NS_B,
      addresses: [`${ADDR_B}/24`],
      mtu: 1400,
    });
    devices.push(b);
  });

  afterAll(async () => {
    for (const device of devices) await device.close();
    for (const ns of [NS_A, NS_B]) await run('ip', ['netns', 'del', ns]).catch(() => {});
  });

  it('carries ping both ways through a JS loop copying frames between the devices', async () => {
    expect(a.name).toBe(`sba${process.pid}`);
    expect(a.mtu).toBe(1400);
    a.onFrames((frames) => b.writeBatch(frames));
    b.onFrames((frames) => a.writeBatch(frames));

    const there = await ping(NS_A, ADDR_B, '-c', '3', '-i', '0.2', '-W', '2');
    expect(there.stdout).toMatch(/3 packets transmitted, 3 received/);
    const back = await ping(NS_B, ADDR_A, '-c', '3', '-i', '0.2', '-W', '2');
    expect(back.stdout).toMatch(/3 packets transmitted, 3 received/);

    // ARP + 6 echo requests + 6 replies at least, read on one side, written on the other.
    expect(a.stats.framesRead).toBeGreaterThanOrEqual(7);
    expect(b.stats.framesRead).toBeGreaterThanOrEqual(7);
    expect(b.stats.framesWritten).toBe(a.stats.framesRead - sumDrops(b));
    expect(a.stats.handlerErrors + b.stats.handlerErrors).toBe(0);
  });

  it('reads every batch into one buffer made with the reader: views valid during the call', async () => {
    const buffers = new Set<ArrayBufferLike>();
    const copies: Uint8Array[] = [];
    const views: Uint8Array[] = [];
    a.onFrames((frames) => {
      for (const frame of frames) {
        buffers.add(frame.buffer);
        copies.push(new Uint8Array(frame)); // a copy (Buffer#slice would be a view)
        views.push(frame);
      }
      b.writeBatch(frames);
    });
    b.onFrames((frames) => a.writeBatch(frames));
    const r = await ping(NS_A, ADDR_B, '-c', '4', '-i', '0.2', '-W', '2');
    expect(r.stdout).toMatch(/4 packets transmitted, 4 received/);
    expect(copies.length).toBeGreaterThanOrEqual(4);
    // One buffer for every batch: nothing allocated per read.
    expect(buffers.size).toBe(1);
    // What was copied during the call is each frame as it was: an Ethernet
    // frame from a's MAC (IPv4, ARP or IPv6)…
    const source = copies[0]!.subarray(6, 12);
    for (const frame of copies) {
      expect([0x0800, 0x0806, 0x86dd]).toContain((frame[12]! << 8) | frame[13]!);
      expect(frame.subarray(6, 12)).toEqual(source);
    }
    // …while a view kept past its call now shows a later frame (the echo
    // requests differ in their sequence numbers).
    const requests = copies.filter((f) => f[12] === 0x08 && f[13] === 0x00);
    expect(requests.length).toBeGreaterThanOrEqual(4);
    expect(views.some((view, i) => Buffer.compare(view, copies[i]!) !== 0)).toBe(true);
  });

  it('a burst comes as multi-frame batches: every frame of a batch is whole and its own', async () => {
    // While a has no handler it has no reader, and the kernel queues what a's
    // stack sends: the reader started afterwards takes it in one batch. b's
    // address is pinned in a's neighbour table so the requests are not held
    // back for ARP (nothing answers while a is not read).
    a.onFrames(() => {})();
    const { stdout } = await run('ip', ['-j', '-n', NS_B, 'link', 'show', 'dev', b.name]);
    const bMac = (JSON.parse(stdout) as { address: string }[])[0]!.address;
    await run('ip', [
      '-n',
      NS_A,
      'neigh',
      'replace',
      ADDR_B,
      'lladdr',
      bMac,
      'dev',
      a.name,
      'nud',
      'permanent',
    ]);
    // Sixteen echo requests at once; no replies come, -w 1 bounds the wait.
    await ping(NS_A, ADDR_B, '-c', '16', '-l', '16', '-w', '1').catch(() => {});
    const batches: Uint8Array[][] = [];
    const off = a.onFrames((frames) => batches.push(frames.map((f) => new Uint8Array(f)))); // copies, in the call
    for (let i = 0; i < 100 && batches.flat().length < 16; i++) await sleep(20);
    off();
    await run('ip', ['-n', NS_A, 'neigh', 'del', ADDR_B, 'dev', a.name]).catch(() => {});
    expect(batches[0]!.length).toBeGreaterThan(1);
    const seqs: number[] = [];
    for (const frame of batches.flat()) {
      // IPv4 ICMP echo request: Ethernet 14 + IPv4 20, type 8 at 34, seq at 40.
      if (frame[12] === 0x08 && frame[13] === 0x00 && frame[23] === 1 && frame[34] === 8) {
        expect(frame.length).toBe(14 + 84);
        seqs.push((frame[40]! << 8) | frame[41]!);
      }
    }
    expect(new Set(seqs).size).toBe(16);
  });

  it('counts oversized and runt frames as drops instead of throwing', () => {
    const before = a.stats.framesWritten;
    expect(a.write(new Uint8Array(1400 + 18 + 1))).toBe(false);
    expect(a.write(new Uint8Array(10))).toBe(false);
    expect(a.stats.writeDrops.tooLarge).toBe(1);
    expect(a.stats.writeDrops.tooShort).toBe(1);
    expect(a.stats.framesWritten).toBe(before);
  });

  it('refuses a name the kernel already has, with TAP_NAME_IN_USE', async () => {
    const holder = await openTapDevice({ name: 'swbt%d', up: false });
    devices.push(holder);
    await expect(openTapDevice({ name: holder.name, up: false })).rejects.toSatisfy(
      (e) => e instanceof TapNameInUseError && e.code === 'TAP_NAME_IN_USE',
    );
    // An interface of another kind ("lo") is refused the same way.
    await expect(openTapDevice({ name: 'lo', up: false })).rejects.toMatchObject({
      code: 'TAP_NAME_IN_USE',
    });
  });

  it('refuses an invalid name before touching the kernel, with TAP_NAME_INVALID', async () => {
    for (const name of ['', 'a/b', 'has space', 'sixteen-bytes-xx', '..', 'x%s']) {
      await expect(openTapDevice({ name })).rejects.toSatisfy(
        (e) => e instanceof TapNameInvalidError && e.code === 'TAP_NAME_INVALID',
      );
    }
  });

  it('removes the device again when configuring it fails', async () => {
    const name = `swbx${process.pid % 100000}`;
    const error = await openTapDevice({ name, netns: `swbt-missing-${suffix}` }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TapConfigError);
    expect((error as TapConfigError).code).toBe('TAP_CONFIG_FAILED');
    expect(await linkExists(name)).toBe(false);
  });

  it('closing is idempotent and later writes are counted as dropped', async () => {
    const device = await openTapDevice({ name: 'swbt%d', up: false });
    devices.push(device);
    await device.close();
    await device.close();
    expect(device.write(new Uint8Array(60))).toBe(false);
    expect(device.stats.writeDrops.closed).toBe(1);
    expect(await linkExists(device.name)).toBe(false);
  });

  it('says TAP_PERMISSION when the process lacks CAP_NET_ADMIN', async () => {
    const result = await openInChild([
      'setpriv',
      '--inh-caps=-all',
      '--bounding-set=-net_admin',
      '--',
    ]);
    expect(result).toMatchObject({ ok: false, code: 'TAP_PERMISSION' });
    expect(result.message).toMatch(/root|CAP_NET_ADMIN/);
  });

  it('a slab taken away (its buffer transferred) stops the reader with an error instead of reading into it', async () => {
    // Last in this file: it leaves a without a reader.
    const errors: Error[] = [];
    const offError = a.onError((error) => errors.push(error));
    let transferred = false;
    a.onFrames((frames) => {
      if (transferred) return;
      transferred = true;
      structuredClone(frames[0]!.buffer, { transfer: [frames[0]!.buffer as ArrayBuffer] });
    });
    await ping(NS_A, ADDR_B, '-c', '3', '-i', '0.2', '-W', '1').catch(() => {});
    expect(transferred).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/detached/);
    offError();
  });

  it('says TAP_UNAVAILABLE when /dev/net/tun is missing', async () => {
    // A private mount namespace where /dev/net is an empty tmpfs.
    const result = await openInChild([
      'unshare',
      '--mount',
      '--',
      'sh',
      '-c',
      'mount -t tmpfs none /dev/net && exec "$@"',
      'sh',
    ]);
    expect(result).toMatchObject({ ok: false, code: 'TAP_UNAVAILABLE' });
    expect(result.message).toMatch(/modprobe tun/);
  });
});

function sumDrops(device: TapDevice): number {
  const d = device.stats.writeDrops;
  return d.tooShort + d.tooLarge + d.queueFull + d.closed + d.ioError;
}
