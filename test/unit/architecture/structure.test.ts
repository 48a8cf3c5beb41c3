/**
 * The shape of src/ that docs/architecture.md promises, checked from the
 * code itself: no import cycles (type-only imports included: a cycle of
 * types is still two modules that cannot be read apart), no class over 350
 * lines, the per-peer composer thin, and the services never reading wire
 * headers by hand (only src/protocol/codec.ts does).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

const files = sourceFiles(SRC);
const text = new Map(files.map((file) => [file, readFileSync(file, 'utf8')]));

/** Relative imports of a file, resolved to .ts paths under src/. */
function importsOf(file: string): string[] {
  const found: string[] = [];
  for (const match of text.get(file)!.matchAll(/^(?:import|export)[^'";]*?from\s+'(\.[^']+)'/gm)) {
    found.push(resolve(dirname(file), match[1]!.replace(/\.js$/, '.ts')));
  }
  return found.filter((path) => text.has(path));
}

function findCycle(): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): string[] | undefined => {
    if (state.get(file) === 'done') return undefined;
    if (state.get(file) === 'open') return [...stack.slice(stack.indexOf(file)), file];
    state.set(file, 'open');
    stack.push(file);
    for (const next of importsOf(file)) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(file, 'done');
    return undefined;
  };
  for (const file of files) {
    const cycle = visit(file);
    if (cycle) return cycle.map((f) => relative(SRC, f));
  }
  return undefined;
}

/** Each class declared in src/, with its length in lines. */
function classLengths(): { name: string; lines: number }[] {
  const out: { name: string; lines: number }[] = [];
  for (const [file, source] of text) {
    const lines = source.split('\n');
    lines.forEach((line, start) => {
      const match = /^export (?:abstract )?class (\w+)|^class (\w+)/.exec(line);
      if (!match) return;
      const end = lines.findIndex((l, i) => i > start && l === '}');
      out.push({ name: `${relative(SRC, file)}:${match[1] ?? match[2]}`, lines: end - start + 1 });
    });
  }
  return out;
}

describe('the structure of src/', () => {
  it('has no import cycle', () => {
    expect(findCycle()).toBeUndefined();
  });

  it('has no class over 350 lines', () => {
    const long = classLengths().filter((c) => c.lines > 350);
    expect(long).toEqual([]);
    expect(classLengths().length).toBeGreaterThan(20); // the scan does find classes
  });

  it('keeps the per-peer composer thin', () => {
    expect(text.get(join(SRC, 'services/peer-link.ts'))!.split('\n').length).toBeLessThan(300);
  });

  it('reads wire headers only in the codec: no bytes[1] peeks in services', () => {
    const peeks = files
      .filter((file) => relative(SRC, file).startsWith('services/'))
      .filter((file) => /\b(?:bytes|data|frame|payload)\[\d\]/.test(text.get(file)!))
      .map((file) => relative(SRC, file));
    expect(peeks).toEqual([]);
  });
});
