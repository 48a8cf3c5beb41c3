import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// src/machines holds pure charts: no sockets, files, WebSockets or timers of
// their own (DESIGN.md). The services do I/O; the actor's clock does time.
const dir = join(import.meta.dirname, '../../../src/machines');
const FORBIDDEN_MODULES =
  /^(node:)?(net|tls|fs|fs\/promises|dgram|http|https|child_process|timers|timers\/promises)$|^ws$/;
const FORBIDDEN_CALLS = /\b(setTimeout|setInterval|setImmediate|Math\.random|Date\.now)\s*\(/;

function sources(): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .sort();
}

function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

function importsOf(code: string): string[] {
  const specs: string[] = [];
  const patterns = [
    /\bimport\s+(?:type\s+)?(?:[\w*{}\s,]+\s+from\s+)?['"]([^'"]+)['"]/g,
    /\bexport\s+(?:type\s+)?[\w*{}\s,]+\s+from\s+['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) specs.push(m[1]!);
  return specs;
}

describe('src/machines purity', () => {
  it('has machine sources to check', () => {
    expect(sources()).toContain('relay-link.ts');
  });

  it('detects forbidden imports (the scanner itself works)', () => {
    const code =
      "import net from 'node:net';\nimport { WebSocket } from 'ws';\nconst t = await import('node:timers');";
    expect(importsOf(code).filter((s) => FORBIDDEN_MODULES.test(s))).toEqual([
      'node:net',
      'ws',
      'node:timers',
    ]);
  });

  for (const file of sources()) {
    it(`${file} imports no I/O or timer modules and arms no timers`, () => {
      const code = stripComments(readFileSync(join(dir, file), 'utf8'));
      expect(importsOf(code).filter((s) => FORBIDDEN_MODULES.test(s))).toEqual([]);
      expect(code.match(FORBIDDEN_CALLS)?.[0] ?? null).toBeNull();
    });
  }
});
