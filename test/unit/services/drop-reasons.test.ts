// One naming scheme for drop reasons (issue 12): every reason the data plane
// counts is UPPER_SNAKE like the error codes it may come from, and
// docs/cli.md documents every one.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DropReason } from '../../../src/services/drop-reasons.js';

const docs = readFileSync(resolve(import.meta.dirname, '../../../docs/cli.md'), 'utf8');
const SERVICES = resolve(import.meta.dirname, '../../../src/services');

describe('drop reasons', () => {
  it('are UPPER_SNAKE, each named as its own key', () => {
    for (const [key, value] of Object.entries(DropReason)) {
      expect(value).toBe(key);
      expect(value).toMatch(/^[A-Z][A-Z0-9_]*$/);
    }
  });

  it('are each documented in docs/cli.md', () => {
    for (const value of Object.values(DropReason)) expect(docs).toContain(`\`${value}\``);
  });

  it('are never spelled as string literals in the data plane (DropReason only)', () => {
    for (const file of [
      'peer-sender.ts',
      'peer-receiver.ts',
      'peer-session.ts',
      'direct-links.ts',
      'peer-link.ts',
      'peer-counters.ts',
    ]) {
      const source = readFileSync(resolve(SERVICES, file), 'utf8');
      expect(source, file).not.toMatch(/\.drop\('[^']*'\)|\?\? '[A-Za-z_]+'/);
    }
  });
});
