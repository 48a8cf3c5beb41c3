import { describe, expect, it } from 'vitest';
import { createLogger, formatLine, redactText } from '../../../src/daemon/logger.js';

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => void lines.push(line) } };
}

describe('createLogger', () => {
  it('writes JSON lines with child bindings when not pretty', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ pretty: false, destination });
    logger.child({ component: 'relay-link', peer: 'b' }).info('connected to relay');
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]!);
    expect(record).toMatchObject({
      level: 30,
      component: 'relay-link',
      peer: 'b',
      msg: 'connected to relay',
    });
    expect(typeof record.time).toBe('number');
  });

  it('honours the level', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ pretty: false, level: 'warn', destination });
    logger.info('not shown');
    logger.warn('shown');
    expect(lines.map((line) => JSON.parse(line).msg)).toEqual(['shown']);
  });

  it('redacts IPv4, IPv6 and host:port in messages, fields, bindings and errors', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ pretty: false, redactAddresses: true, destination });
    const child = logger.child({ component: 'dial', peer: 'b', endpoint: '127.0.0.1:7443' });
    const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7000'), {
      code: 'ECONNREFUSED',
    });
    child.warn(
      {
        err: error,
        observed: '[::1]:53422',
        list: ['::ffff:127.0.0.1', 'fe80::1'],
        nested: { url: 'ws://127.0.0.1:7000/relay' },
        at: '19:40:59',
        word: 'dead:beef',
      },
      'dial to %s failed, relay at ::1 says %s',
      '127.0.0.1:7443',
      'ok',
    );
    const line = lines[0]!;
    expect(line).not.toMatch(/127\.0\.0\.1|::1|fe80/);
    const record = JSON.parse(line);
    expect(record.msg).toBe('dial to [addr] failed, relay at [addr] says ok');
    expect(record.endpoint).toBe('[addr]');
    expect(record.observed).toBe('[addr]');
    expect(record.list).toEqual(['[addr]', '[addr]']);
    expect(record.nested.url).toBe('ws://[addr]/relay');
    expect(record.err.message).toBe('connect ECONNREFUSED [addr]');
    // Times and hex words are not addresses.
    expect(record.at).toBe('19:40:59');
    expect(record.word).toBe('dead:beef');
  });

  it('leaves addresses alone without redactAddresses', () => {
    const { lines, destination } = capture();
    createLogger({ pretty: false, destination }).info('peer at 127.0.0.1:7443');
    expect(JSON.parse(lines[0]!).msg).toBe('peer at 127.0.0.1:7443');
  });

  it('prints one readable line per event when pretty, component and peer first', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ pretty: true, redactAddresses: true, destination });
    logger
      .child({ component: 'connection', peer: 'b' })
      .warn({ reason: 'HEARTBEAT_TIMEOUT', endpoint: '127.0.0.1:7443' }, 'falling back to relay');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} WARN {2}connection b: falling back to relay {2}reason=HEARTBEAT_TIMEOUT endpoint=\[addr\]\n$/,
    );
    // No colour codes when the destination is not a terminal.
    expect(lines[0]).not.toContain('\x1b[');
  });
});

describe('redactText', () => {
  it.each([
    ['10.232.0.2/24 via 127.0.0.1', '[addr]/24 via [addr]'],
    ['from 127.0.0.1.', 'from [addr].'],
    ['[2001:db8::1]:443', '[addr]'],
    ['2001:db8::1', '[addr]'],
    ['version 1.2.3', 'version 1.2.3'],
    ['Foo::bar', 'Foo::bar'],
    ['took 12:30', 'took 12:30'],
    ['999.1.1.1', '999.1.1.1'],
  ])('%s -> %s', (input, output) => {
    expect(redactText(input)).toBe(output);
  });
});

describe('formatLine', () => {
  it('quotes field values with spaces and shows error codes', () => {
    const line = formatLine({
      level: 50,
      time: 0,
      msg: 'control request failed',
      path: 'a b',
      err: { message: 'boom', code: 'EFAIL' },
    });
    expect(line).toMatch(/ERROR control request failed {2}path="a b" err="EFAIL: boom"$/);
  });

  it('never repeats the prefix the message already carries', () => {
    const at = (record: Record<string, unknown>) => formatLine({ level: 30, time: 0, ...record });
    expect(at({ peer: 'alpha', msg: 'alpha: usingRelay -> attemptingDirect (RETRY)' })).toMatch(
      / INFO {2}alpha: usingRelay -> attemptingDirect \(RETRY\)$/,
    );
    expect(at({ component: 'connection', peer: 'b', msg: 'connection b: up' })).toMatch(
      / connection b: up$/,
    );
    expect(at({ component: 'connection', peer: 'b', msg: 'b: up' })).toMatch(/ connection b: up$/);
    // Only a whole prefix: "alphabet: …" is not "alpha: …".
    expect(at({ peer: 'alpha', msg: 'alphabet: x' })).toMatch(/ alpha: alphabet: x$/);
  });
});
