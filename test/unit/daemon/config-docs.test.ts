// docs/cli.md documents every [timings] key with its default, and only keys
// the config accepts: the table is read and checked against the schema and
// against the defaults the code uses.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keysAt, parseConfig } from '../../../src/daemon/config.js';
import { defaultConnectionTimings } from '../../../src/machines/connection-timings.js';
import { defaultRelayLinkTimings } from '../../../src/machines/relay-link-timings.js';
import { defaultQualityPolicy } from '../../../src/services/path-quality.js';

const CLI_MD = readFileSync(join(import.meta.dirname, '../../../docs/cli.md'), 'utf8');

/** `| \`timings.a.b\` | 200 | … |` rows -> { 'timings.a.b': '200' }. */
function documented(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const match of CLI_MD.matchAll(/^\| `(timings\.[\w.]+)` \| ([^|]+) \|/gm)) {
    rows.set(match[1]!, match[2]!.trim());
  }
  return rows;
}

/** Every leaf key under `path`, from the schema itself. */
function schemaLeaves(path: string[]): string[] {
  return keysAt(path).flatMap((key) => {
    const below = [...path, key];
    return keysAt(below).length > 0 ? schemaLeaves(below) : [below.join('.')];
  });
}

function flatten(prefix: string, value: object): Array<[string, unknown]> {
  return Object.entries(value).flatMap(([key, inner]) =>
    inner !== null && typeof inner === 'object'
      ? flatten(`${prefix}.${key}`, inner)
      : [[`${prefix}.${key}`, inner] as [string, unknown]],
  );
}

/** The keys of the "The config file" table: `| \`relays\` | … |`. */
function documentedTopLevel(): string[] {
  const section = CLI_MD.split('### The config file')[1]?.split('\n### ')[0] ?? '';
  return [...section.matchAll(/^\| `(\w+)` \|/gm)].map((match) => match[1]!);
}

describe('docs/cli.md: the config file', () => {
  it('lists every top-level key the config accepts, in schema order, and no other', () => {
    expect(documentedTopLevel()).toEqual(keysAt([]));
  });
});

describe('docs/cli.md [timings]', () => {
  it('lists every key the config accepts under [timings], and no other', () => {
    const keys = schemaLeaves(['timings']);
    expect(keys.length).toBeGreaterThan(20);
    expect([...documented().keys()].sort()).toEqual([...keys].sort());
  });

  it('gives each key the default the code uses', () => {
    const defaults = new Map<string, unknown>([
      ...flatten('timings', defaultConnectionTimings),
      ...flatten('timings.relay', defaultRelayLinkTimings),
      ...flatten('timings.quality', defaultQualityPolicy),
    ]);
    const rows = documented();
    for (const [key, value] of defaults) {
      expect(rows.get(key), key).toBe(String(value));
    }
    expect(rows.size).toBe(defaults.size);
  });

  it('documents keys that a config file can set', () => {
    // TOML's dotted keys: timings.retry.baseMs = 1000 at the top level.
    const toml = [...documented()].map(([key, value]) => `${key} = ${value}\n`);
    const config = parseConfig(
      `key = "a.key"\nrelay = "ws://127.0.0.1:7000"\n${toml.join('')}`,
      'n.toml',
    );
    expect(config.timings).toEqual(defaultConnectionTimings);
    expect(config.relayTimings).toEqual(defaultRelayLinkTimings);
    expect(config.quality).toEqual(defaultQualityPolicy);
  });
});
