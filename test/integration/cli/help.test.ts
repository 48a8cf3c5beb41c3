// Every command's --help exits 0 and mentions every option it accepts, and the
// program's help lists every command.
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const COMMANDS: Record<string, string[]> = {
  up: ['--config FILE', '--log-level LEVEL', '--redact-addresses', '--inspect stately'],
  relay: ['--listen HOST:PORT', '--metrics HOST:PORT', '--max-peers N', '--log-level LEVEL'],
  demo: ['--duration SECONDS', '--json'],
  keygen: ['--out FILE', '--force'],
  pubkey: ['--key FILE'],
  status: ['--control HOST:PORT', '--config FILE', '--json'],
  ping: ['PEER', '--count N', '--timeout MS', '--control HOST:PORT', '--config FILE', '--json'],
};

describe('--help', () => {
  it.each(Object.entries(COMMANDS))(
    'switchback %s --help lists every option',
    async (name, flags) => {
      const result = await runCli([name, '--help']);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toMatch(new RegExp(`^Usage: switchback ${name} `));
      for (const flag of [...flags, '--help']) expect(result.stdout).toContain(flag);
      expect(result.stdout).toMatch(/Exit codes: 0 /);
    },
  );

  it('lists these commands in the program help', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const name of Object.keys(COMMANDS))
      expect(result.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
  });
});
